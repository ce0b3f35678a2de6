#include "experiments/engine/slurm.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "optim/io.h"

namespace batchlab::experiments::slurm {
namespace fs = std::filesystem;

namespace {

double now_unix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// Single-quoted for bash.
std::string quoted(const std::string& s) {
  std::string q(1, '\'');
  for (char c : s) {
    if (c == '\'') q.append("'\\''");
    else q.push_back(c);
  }
  q.push_back('\'');
  return q;
}

// The job script: start time and nodes, srun batchlab train (with --resume when a checkpoint of
// an earlier job is there), then the exit status of batchlab train in job_exit.
void write_job_script(const fs::path& script, const fs::path& dir, const std::vector<std::string>& train_argv,
                      const fs::path& checkpoint, const JobOptions& o) {
  std::string cmd;
  for (const auto& a : train_argv) {
    cmd.push_back(' ');
    cmd.append(quoted(a));
  }
  std::ofstream f(script);
  f << "#!/bin/bash\n"
    << "# A trial of a batchlab study (experiments/engine/slurm.h): written by the study driver.\n"
    << "dir=" << quoted(dir.string()) << "\n"
    << "# Killed (time limit, preemption, scancel): leave without job_exit, so the driver resubmits.\n"
    << "trap 'exit 143' TERM INT\n"
    << "date +%s.%N > \"$dir/job_start\"\n"
    << "echo \"${SLURM_JOB_NODELIST:-$(hostname -s)}\" > \"$dir/job_nodes\"\n"
    << "resume=()\n"
    << "[[ -e " << quoted(checkpoint.string()) << " ]] && resume=(--resume)\n"
    << "export OMP_NUM_THREADS=" << o.cpus_per_task << "\n"
    << "srun --mpi=" << o.mpi << " --kill-on-bad-exit=1" << cmd << " \"${resume[@]}\"\n"
    << "rc=$?\n"
    << "date +%s.%N > \"$dir/job_end\"\n"
    << "echo $rc > \"$dir/job_exit.tmp\" && mv \"$dir/job_exit.tmp\" \"$dir/job_exit\"\n"
    << "exit $rc\n";
  if (!f) throw std::runtime_error("cannot write " + script.string());
}

// Appends "JOB_ID SUBMIT_TIME" to jobs.log as one step (optim/io.h: a temporary copy and a
// rename), so a driver killed at any point finds every submission it made.
void log_submission(const fs::path& log, const std::string& job_id, double submit_time) {
  const std::string line = job_id + " " + optim::format_number(submit_time, 15) + "\n";
  if (fs::exists(log)) optim::append_file_atomic(log, line);
  else optim::write_file_atomic(log, line);
}

struct Submission {
  std::string job_id;
  double submit_time = -1;
  int count = 0;
};

Submission last_submission(const fs::path& log) {
  Submission s;
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    Submission cur;
    if (ls >> cur.job_id >> cur.submit_time) {
      cur.count = s.count + 1;
      s = cur;
    }
  }
  return s;
}

// JobState from `scontrol show job -o ID` ("" when Slurm no longer knows the job).
std::string scontrol_state(const std::string& job_id) {
  std::string out;
  if (capture({"scontrol", "show", "job", "-o", job_id}, out) != 0) return "";
  std::smatch m;
  if (std::regex_search(out, m, std::regex("JobState=([A-Z_]+)"))) return m[1];
  return "";
}

bool alive(const std::string& state) {
  return state == "PENDING" || state == "RUNNING" || state == "CONFIGURING" || state == "COMPLETING" ||
         state == "REQUEUED" || state == "RESIZING" || state == "SUSPENDED" || state == "REQUEUE_HOLD" ||
         state == "REQUEUE_FED" || state == "SIGNALING" || state == "STAGE_OUT";
}

std::string submit(const fs::path& dir, const std::string& name, const JobOptions& o) {
  std::vector<std::string> argv = {"sbatch", "--parsable", "--job-name=" + name,
                                   "--ntasks=" + std::to_string(o.ntasks),
                                   "--cpus-per-task=" + std::to_string(o.cpus_per_task),
                                   "--output=" + (dir / "job.out").string(), "--open-mode=append",
                                   "--chdir=" + dir.string()};
  if (!o.time_limit.empty()) argv.push_back("--time=" + o.time_limit);
  if (!o.partition.empty()) argv.push_back("--partition=" + o.partition);
  if (!o.account.empty()) argv.push_back("--account=" + o.account);
  argv.insert(argv.end(), o.extra.begin(), o.extra.end());
  argv.push_back((dir / "job.sh").string());
  std::string out;
  const int rc = capture(argv, out);
  out = trim(out);
  const std::string id = out.substr(0, out.find(';'));  // "ID" or "ID;cluster"
  if (rc != 0 || id.empty() || id.find_first_not_of("0123456789_") != std::string::npos)
    throw std::runtime_error("sbatch failed (status " + std::to_string(rc) + "): " + out);
  return id;
}

// batchlab train's exit status as the job script recorded it; -1 when there is none.
int read_exit(const fs::path& p) {
  try {
    return fs::exists(p) ? std::stoi(trim(read_text(p))) : -1;
  } catch (const std::exception&) {
    return -1;
  }
}

double read_time(const fs::path& p) {
  try {
    return fs::exists(p) ? std::stod(read_text(p)) : -1.0;
  } catch (const std::exception&) {
    return -1.0;
  }
}

}  // namespace

long parse_duration(const std::string& text) {
  if (text == "UNLIMITED" || text == "INFINITE" || text == "unlimited" || text == "infinite") return -1;
  static const std::regex re(R"(^(?:(\d+)-(\d+)(?::(\d+)(?::(\d+))?)?|(\d+)(?::(\d+)(?::(\d+))?)?)$)");
  std::smatch m;
  if (!std::regex_match(text, m, re))
    throw std::invalid_argument("'" + text + "' is not a Slurm duration (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S)");
  auto n = [&](int i) { return m[i].matched ? std::stol(m[i]) : 0L; };
  long s = 0;
  if (m[1].matched) {
    s = n(1) * 86400 + n(2) * 3600 + n(3) * 60 + n(4);
  } else if (m[7].matched) {
    s = n(5) * 3600 + n(6) * 60 + n(7);
  } else {
    s = n(5) * 60 + n(6);
  }
  if (s <= 0) throw std::invalid_argument("'" + text + "' is a zero Slurm duration");
  return s;
}

int capture(const std::vector<std::string>& args, std::string& out) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  out.clear();
  char buf[4096];
  for (ssize_t got; (got = ::read(fds[0], buf, sizeof buf)) != 0;) {
    if (got < 0) {
      if (errno == EINTR) continue;
      break;
    }
    out.append(buf, static_cast<std::size_t>(got));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 127;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string unreachable_reason() {
  std::string out;
  int rc = 127;
  try {
    rc = capture({"sinfo", "-h", "-o", "%P"}, out);
  } catch (const std::exception& e) {
    return e.what();
  }
  if (rc == 127) return "sinfo not found (is Slurm installed? scripts/slurm-local starts one here)";
  if (rc != 0) {
    std::string first = trim(out);
    first = first.substr(0, first.find('\n'));
    return "sinfo failed (status " + std::to_string(rc) + "): " + first;
  }
  return "";
}

JobRecord run_trial_job(const fs::path& dir, const std::string& job_name, const std::vector<std::string>& train_argv,
                        const fs::path& checkpoint, const JobOptions& o) {
  const fs::path log = dir / "jobs.log";
  write_job_script(dir / "job.sh", dir, train_argv, checkpoint, o);
  Submission s = last_submission(log);
  JobRecord r;
  for (;;) {
    const std::string state = s.job_id.empty() ? "" : scontrol_state(s.job_id);
    if (!s.job_id.empty()) {
      if (alive(state)) {
        std::this_thread::sleep_for(o.poll);
        continue;
      }
      // The trial's last job has ended: finished, failed, or ended early (then submitted again).
      const JobEnd end = classify_end(state, read_exit(dir / "job_exit"), o.fail_on_cancel);
      if (end == JobEnd::kFinished) break;
      if (end == JobEnd::kCancelled) {
        r.failure = "job " + s.job_id + " was cancelled (launcher.on_cancel = fail)";
        break;
      }
      if (end == JobEnd::kFailed) {
        r.exit_status = read_exit(dir / "job_exit");
        r.failure = "batchlab train exited with status " + std::to_string(r.exit_status) + " in job " + s.job_id +
                    " (state " + (state.empty() ? "unknown" : state) + ")";
        break;
      }
      if (s.count > o.max_resubmits) {
        r.failure = "job " + s.job_id + " ended without finishing " + std::to_string(s.count) +
                    " times (last state " + (state.empty() ? "unknown" : state) + "; launcher.max_resubmits = " +
                    std::to_string(o.max_resubmits) + ")";
        break;
      }
    }
    // An exit status of a job that ended early is not the trial's: the next job writes its own.
    fs::remove(dir / "job_exit");
    const double t = now_unix();
    const std::string id = submit(dir, job_name, o);
    log_submission(log, id, t);
    s = {id, t, s.count + 1};
    std::this_thread::sleep_for(o.poll);
  }
  r.job_id = s.job_id;
  r.submit_time = s.submit_time;
  r.submissions = s.count;
  r.start_time = read_time(dir / "job_start");
  r.end_time = read_time(dir / "job_end");
  r.nodes = trim(read_text(dir / "job_nodes"));
  if (r.failure.empty()) r.exit_status = 0;
  return r;
}

JobEnd classify_end(const std::string& state, int exit_status, bool fail_on_cancel) {
  // A batchlab train that exited 0 finished its trial, whatever happened to the job after.
  if (exit_status == 0) return JobEnd::kFinished;
  if (state == "CANCELLED" && fail_on_cancel) return JobEnd::kCancelled;
  // No exit status: the job was killed before batchlab train returned (time limit, preemption,
  // node failure, scancel). With one, the job's state still says whether Slurm ended it: a step
  // killed at a time limit can return (with a signal's status) before the script is killed.
  static const char* const kEndedEarly[] = {"TIMEOUT", "PREEMPTED", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "CANCELLED"};
  if (exit_status < 0) return JobEnd::kEndedEarly;
  for (const char* e : kEndedEarly)
    if (state == e) return JobEnd::kEndedEarly;
  return JobEnd::kFailed;
}

}  // namespace batchlab::experiments::slurm
