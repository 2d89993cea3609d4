#include "model/module_names.h"

#include "core/error.h"

namespace frugal {

std::string hf_target_name(WeightRole role) {
  switch (role) {
    case WeightRole::Wq: case WeightRole::Bq: return "q_proj";
    case WeightRole::Wk: case WeightRole::Bk: return "k_proj";
    case WeightRole::Wv: case WeightRole::Bv: return "v_proj";
    case WeightRole::Wo: return "o_proj";
    case WeightRole::Gate: return "gate_proj";
    case WeightRole::Up: return "up_proj";
    case WeightRole::Down: return "down_proj";
    default: fail("internal: weight role is not a linear layer");
  }
}

std::string hf_module_name(WeightRole role, int64_t layer) {
  const std::string base = "model.layers." + std::to_string(layer) + ".";
  switch (role) {
    case WeightRole::Wq: case WeightRole::Wk: case WeightRole::Wv: case WeightRole::Wo:
    case WeightRole::Bq: case WeightRole::Bk: case WeightRole::Bv:
      return base + "self_attn." + hf_target_name(role);
    default: return base + "mlp." + hf_target_name(role);
  }
}

}  // namespace frugal
