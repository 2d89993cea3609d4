#include "parallel/communicator.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace frugal {

ShardRange shard_range(size_t count, int rank, int ranks) {
  const auto r = static_cast<unsigned __int128>(rank), n = static_cast<unsigned __int128>(ranks);
  return {static_cast<size_t>(count * r / n), static_cast<size_t>(count * (r + 1) / n)};
}

namespace {

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string describe() const override { return "rank 0 of 1"; }
  void all_reduce_sum(std::span<float>) override {}
  void all_reduce_sum(std::span<double>) override {}
  void all_reduce_sum(std::span<int64_t>) override {}
  void all_reduce_max(std::span<int64_t>) override {}
  void reduce_scatter_sum(std::span<const float> full, std::span<float> mine) override {
    std::copy(full.begin(), full.end(), mine.begin());
  }
  void all_gather(std::span<float>) override {}
  void gather_to_root(std::span<const float> mine, std::span<float> full, size_t) override {
    std::copy(mine.begin(), mine.end(), full.begin());
  }
  void broadcast(std::span<std::byte>) override {}
  void broadcast(std::span<float>) override {}
  [[noreturn]] void abort_job(int exit_code) override { std::exit(exit_code); }
};

std::unique_ptr<Communicator>& world_slot() {
  static std::unique_ptr<Communicator> slot;
  return slot;
}

}  // namespace

std::string rank_label_if_distributed() {
  const std::unique_ptr<Communicator>& slot = world_slot();
  return slot && slot->distributed() ? " (" + slot->describe() + ")" : "";
}

std::unique_ptr<Communicator> make_single_process_communicator() { return std::make_unique<SingleProcess>(); }

bool launched_by_mpi() {
  // Open MPI's launcher sets OMPI_COMM_WORLD_SIZE; PMIx- and Hydra-based launchers (MPICH) set these.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"})
    if (std::getenv(name)) return true;
  return false;
}

Communicator& world() {
  std::unique_ptr<Communicator>& slot = world_slot();
  if (!slot) {
    if (launched_by_mpi() && built_with_mpi())
      slot = make_mpi_communicator();
    else
      slot = make_single_process_communicator();
  }
  return *slot;
}

void abort_job_if_distributed(int exit_code) {
  std::unique_ptr<Communicator>& slot = world_slot();
  if (slot && slot->distributed()) slot->abort_job(exit_code);
}

}  // namespace frugal
