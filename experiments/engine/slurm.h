// Trials of a real study as Slurm jobs ([launcher] scheduler = slurm): one batch job per trial,
// submitted with sbatch, followed with squeue / scontrol, resubmitted with --resume after a
// transient end, and re-attached to (never submitted twice) by a study driver that was killed and
// restarted.
//
// The job of a trial is a small bash script written into the trial's directory (job.sh): it
// records its start time and node list, runs `srun [--mpi=PLUGIN] batchlab train ARGS` (adding
// --resume when a checkpoint is there), and records the exit status of `batchlab train` in the
// file `job_exit`. How the trial's job ended decides what comes next (classify_end):
//   - job_exit 0: the trial is finished;
//   - scontrol state CANCELLED and on_cancel = fail: the trial failed ("was cancelled");
//   - no job_exit (the job was killed before batchlab train returned), or a state that says Slurm
//     ended the job (TIMEOUT, PREEMPTED, NODE_FAIL, BOOT_FAIL, DEADLINE, CANCELLED), whatever
//     job_exit says (a step killed at its time limit may return before the script is killed):
//     ended early, for a reason outside the trial. It is submitted again and continues from its
//     last checkpoint (the trainer's resume is exact in every metrics column but the timings), up
//     to max_resubmits times, then the trial failed;
//   - otherwise (a non-zero job_exit in a job Slurm let end by itself): batchlab train failed for
//     a reason of its own; the trial failed and is not retried.
// A failed trial is reported in JobRecord::failure; the study marks it failed and goes on.
//
// Every submission is appended (atomically) to the trial's `jobs.log` before the driver waits on
// it, one line "JOB_ID SUBMIT_UNIX_TIME": a restarted driver reads the last line and, when that job
// is still queued or running, waits for it instead of submitting again.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace batchlab::experiments::slurm {

// Seconds of a Slurm duration as sbatch --time takes it: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S, or
// UNLIMITED / INFINITE (-1). Throws std::invalid_argument naming the text.
long parse_duration(const std::string& text);

// "" when `sinfo` answers, else one line saying why not (not installed, no controller, ...).
std::string unreachable_reason();

// Runs argv (no shell), returns its exit status and puts its stdout (and stderr, appended) in out.
int capture(const std::vector<std::string>& argv, std::string& out);

struct JobOptions {
  int ntasks = 1;
  int cpus_per_task = 1;
  std::string time_limit;          // "" = the partition's default
  std::string partition, account;  // "" = default
  std::string mpi = "pmix";        // srun --mpi plugin ("none" for one rank without MPI)
  std::vector<std::string> extra;  // more sbatch options, as written in the config
  int max_resubmits = 20;          // after transient ends
  bool fail_on_cancel = false;     // a scancel'ed job: failed (true) or submitted again (false)
  std::chrono::milliseconds poll{1000};
};

// What the study records about a trial's jobs (the last job; times in Unix seconds, -1 unknown).
struct JobRecord {
  std::string job_id;
  double submit_time = -1, start_time = -1, end_time = -1;
  std::string nodes;
  int submissions = 0;   // jobs submitted for this trial, this run and earlier ones
  int exit_status = -1;  // of batchlab train (0 when finished); -1 when no job wrote one
  std::string failure;   // why the trial failed (empty when it ran to its end); its log is job.out
};

// How a trial's job ended (header comment), from its scontrol state ("" when Slurm no longer
// knows the job), batchlab train's exit status in job_exit (-1: none) and launcher.on_cancel.
enum class JobEnd { kFinished, kFailed, kCancelled, kEndedEarly };
JobEnd classify_end(const std::string& state, int exit_status, bool fail_on_cancel);

// Runs one trial as Slurm job(s) until batchlab train has exited by itself (or the trial failed).
// `train_argv` = [batchlab, train, ...]: the command srun starts. `checkpoint` = the trainer's
// checkpoint path in the trial dir (its presence adds --resume). Blocks; safe to call from several
// threads for different trials.
JobRecord run_trial_job(const std::filesystem::path& trial_dir, const std::string& job_name,
                        const std::vector<std::string>& train_argv, const std::filesystem::path& checkpoint,
                        const JobOptions& options);

}  // namespace batchlab::experiments::slurm
