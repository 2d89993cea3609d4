// The MPI communicator (Open MPI from Debian): MPI_COMM_WORLD, errors returned rather than fatal so
// that a failed collective (a rank died, a host is unreachable) is reported by this rank, naming
// itself, before the whole job is ended with MPI_Abort.
#include "parallel/communicator.h"
#include "core/error.h"

#ifdef FRUGAL_HAVE_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only: Open MPI's deprecated C++ bindings are a separate library
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <vector>

namespace frugal {

bool built_with_mpi() { return true; }

namespace {

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      // Only the main thread calls MPI; OpenMP threads compute between the calls.
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    host_ = host;
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string describe() const override {
    return "rank " + std::to_string(rank_) + " of " + std::to_string(size_) + " on " + host_;
  }

  void all_reduce_sum(std::span<float> v) override { all_reduce(v.data(), v.size(), MPI_FLOAT, MPI_SUM); }
  void all_reduce_sum(std::span<double> v) override { all_reduce(v.data(), v.size(), MPI_DOUBLE, MPI_SUM); }
  void all_reduce_sum(std::span<int64_t> v) override { all_reduce(v.data(), v.size(), MPI_INT64_T, MPI_SUM); }
  void all_reduce_max(std::span<int64_t> v) override { all_reduce(v.data(), v.size(), MPI_INT64_T, MPI_MAX); }

  void reduce_scatter_sum(std::span<const float> full, std::span<float> mine) override {
    const Timer t(*this, full.size() * sizeof(float));
    std::vector<int> counts, displs;
    layout(full.size(), counts, displs);
    check(MPI_Reduce_scatter(full.data(), mine.data(), counts.data(), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
          "MPI_Reduce_scatter");
  }
  void all_gather(std::span<float> full) override {
    const Timer t(*this, full.size() * sizeof(float) / static_cast<size_t>(size_));
    std::vector<int> counts, displs;
    layout(full.size(), counts, displs);
    check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, full.data(), counts.data(), displs.data(), MPI_FLOAT,
                         MPI_COMM_WORLD),
          "MPI_Allgatherv");
  }
  void gather_to_root(std::span<const float> mine, std::span<float> full, size_t count) override {
    const Timer t(*this, mine.size() * sizeof(float));
    std::vector<int> counts, displs;
    layout(count, counts, displs);
    check(MPI_Gatherv(mine.data(), static_cast<int>(mine.size()), MPI_FLOAT, full.data(), counts.data(),
                      displs.data(), MPI_FLOAT, 0, MPI_COMM_WORLD),
          "MPI_Gatherv");
  }
  void broadcast(std::span<std::byte> bytes) override { bcast(bytes.data(), bytes.size(), MPI_BYTE); }
  void broadcast(std::span<float> values) override { bcast(values.data(), values.size(), MPI_FLOAT); }
  [[noreturn]] void abort_job(int exit_code) override {
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);
  }

 private:
  // Adds a collective's time and volume to the totals when it ends.
  struct Timer {
    Timer(Communicator& c, size_t bytes) : comm(c), start(std::chrono::steady_clock::now()) {
      comm.bytes_sent += static_cast<double>(bytes);
    }
    ~Timer() { comm.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }
    Communicator& comm;
    std::chrono::steady_clock::time_point start;
  };

  // MPI counts are ints: large arrays go in pieces of at most 2^30 elements.
  static constexpr size_t kPiece = size_t{1} << 30;

  void all_reduce(void* data, size_t n, MPI_Datatype type, MPI_Op op) {
    int type_size = 0;
    MPI_Type_size(type, &type_size);
    const Timer t(*this, n * static_cast<size_t>(type_size));
    auto* bytes = static_cast<char*>(data);
    for (size_t at = 0; at < n; at += kPiece) {
      const size_t len = std::min(kPiece, n - at);
      check(MPI_Allreduce(MPI_IN_PLACE, bytes + at * static_cast<size_t>(type_size), static_cast<int>(len), type, op,
                          MPI_COMM_WORLD),
            "MPI_Allreduce");
    }
  }
  void bcast(void* data, size_t n, MPI_Datatype type) {
    int type_size = 0;
    MPI_Type_size(type, &type_size);
    const Timer t(*this, rank_ == 0 ? n * static_cast<size_t>(type_size) : 0);
    auto* bytes = static_cast<char*>(data);
    for (size_t at = 0; at < n; at += kPiece) {
      const size_t len = std::min(kPiece, n - at);
      check(MPI_Bcast(bytes + at * static_cast<size_t>(type_size), static_cast<int>(len), type, 0, MPI_COMM_WORLD),
            "MPI_Bcast");
    }
  }
  void layout(size_t count, std::vector<int>& counts, std::vector<int>& displs) const {
    counts.resize(static_cast<size_t>(size_));
    displs.resize(static_cast<size_t>(size_));
    for (int r = 0; r < size_; ++r) {
      const ShardRange s = shard_range(count, r, size_);
      if (s.end > static_cast<size_t>(INT_MAX)) fail("MPI: an array of " + std::to_string(count) + " values is too long to shard");
      counts[static_cast<size_t>(r)] = static_cast<int>(s.size());
      displs[static_cast<size_t>(r)] = static_cast<int>(s.begin);
    }
  }
  // A failed collective means another rank is gone or unreachable: say which rank saw it, then end
  // the job (the launcher names the rank that died).
  void check(int code, const char* call) {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING] = {};
    int len = 0;
    MPI_Error_string(code, text, &len);
    std::fprintf(stderr, "frugal: %s: %s failed: %s (another rank died or cannot be reached); ending the job\n",
                 describe().c_str(), call, text);
    std::fflush(stderr);
    abort_job(1);
  }

  int rank_ = 0, size_ = 1;
  std::string host_;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

}  // namespace frugal

#else  // a build without MPI runs single-process only

namespace frugal {
bool built_with_mpi() { return false; }
std::unique_ptr<Communicator> make_mpi_communicator() {
  fail("this frugal was built without MPI (install libopenmpi-dev and rebuild) but was started by an MPI launcher");
}
}  // namespace frugal

#endif
