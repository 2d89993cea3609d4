// The ranks of a data-parallel job and the collectives the trainer needs, over MPI when the process
// was started by an MPI launcher (mpirun / mpiexec) and the build has MPI, else one rank on its own.
// Everything the trainer synchronises goes through here, so the single-process run and a rank of a
// distributed one execute the same code.
//
// Sharded arrays are split evenly: rank r of n owns [count * r / n, count * (r + 1) / n).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace frugal {

struct ShardRange {
  size_t begin = 0, end = 0;
  size_t size() const { return end - begin; }
};
ShardRange shard_range(size_t count, int rank, int ranks);

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  bool is_root() const { return rank() == 0; }
  bool distributed() const { return size() > 1; }
  // A name for messages: "rank 1 of 2 on host-a".
  virtual std::string describe() const = 0;

  // In place: every rank ends with the element-wise sum over ranks.
  virtual void all_reduce_sum(std::span<float> values) = 0;
  virtual void all_reduce_sum(std::span<double> values) = 0;
  virtual void all_reduce_sum(std::span<int64_t> values) = 0;
  virtual void all_reduce_max(std::span<int64_t> values) = 0;
  // `full` is `count` floats on every rank; `mine` receives this rank's shard_range of the sum.
  virtual void reduce_scatter_sum(std::span<const float> full, std::span<float> mine) = 0;
  // In place: each rank's shard_range of `full` is sent to every other rank's `full`.
  virtual void all_gather(std::span<float> full) = 0;
  // The root's `mine` shards assembled into the root's `full` (other ranks pass an empty `full`).
  virtual void gather_to_root(std::span<const float> mine, std::span<float> full, size_t count) = 0;
  // The root's bytes to every rank (same length everywhere).
  virtual void broadcast(std::span<std::byte> bytes) = 0;
  virtual void broadcast(std::span<float> values) = 0;
  // Ends every rank of the job at once (after a rank's error, so the others do not wait forever).
  [[noreturn]] virtual void abort_job(int exit_code) = 0;

  // What the collectives cost this process so far, for the training summary.
  double seconds = 0;
  double bytes_sent = 0;  // payload this rank contributed, the logical volume of each collective
};

// The process's communicator, made on first use: MPI when launched by an MPI launcher and built with
// MPI (FRUGAL_HAVE_MPI), else a single rank. Finalised at exit.
Communicator& world();
// Whether this build can run distributed at all (for --help and error messages).
bool built_with_mpi();
// When the process is a rank of a distributed job, ends the whole job (see abort_job); else returns.
void abort_job_if_distributed(int exit_code);
// " (rank 1 of 2 on host-a)" for messages of a rank of a distributed job, else "".
std::string rank_label_if_distributed();

// One rank alone: every collective is the identity (or a copy).
std::unique_ptr<Communicator> make_single_process_communicator();
// MPI_COMM_WORLD; initialises MPI. Only when built_with_mpi().
std::unique_ptr<Communicator> make_mpi_communicator();
// True when an MPI launcher started this process (its environment says so).
bool launched_by_mpi();

}  // namespace frugal
