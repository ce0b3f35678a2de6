// The Slurm side of [launcher] scheduler = slurm that needs no running Slurm: durations as sbatch
// --time takes them (a config's time limit is checked before any job is submitted), the command
// capture the driver talks to sbatch / squeue / scontrol with, and how a trial's ended job is read
// (finished, failed, or ended early and submitted again).
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "experiments/engine/slurm.h"

namespace slurm = batchlab::experiments::slurm;

TEST(SlurmDuration, EveryFormOfSbatchTimeInSeconds) {
  EXPECT_EQ(slurm::parse_duration("30"), 30 * 60);
  EXPECT_EQ(slurm::parse_duration("30:15"), 30 * 60 + 15);
  EXPECT_EQ(slurm::parse_duration("2:30:15"), 2 * 3600 + 30 * 60 + 15);
  EXPECT_EQ(slurm::parse_duration("1-2"), 86400 + 2 * 3600);
  EXPECT_EQ(slurm::parse_duration("1-2:30"), 86400 + 2 * 3600 + 30 * 60);
  EXPECT_EQ(slurm::parse_duration("1-2:30:15"), 86400 + 2 * 3600 + 30 * 60 + 15);
  EXPECT_EQ(slurm::parse_duration("UNLIMITED"), -1);
  EXPECT_EQ(slurm::parse_duration("INFINITE"), -1);
}

TEST(SlurmDuration, WhatSbatchWouldRejectIsAnErrorNamingTheText) {
  for (const char* bad : {"", "1h", "-5", "1:2:3:4", "1-", "1.5", "0", "0:00", " 10", "abc"}) {
    try {
      slurm::parse_duration(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(SlurmCapture, ReturnsStatusAndOutput) {
  std::string out;
  EXPECT_EQ(slurm::capture({"sh", "-c", "echo hello; echo oops >&2; exit 3"}, out), 3);
  EXPECT_EQ(out, "hello\noops\n");
  EXPECT_EQ(slurm::capture({"/nonexistent/program"}, out), 127);
}

TEST(SlurmJobEnd, AZeroExitFinishesTheTrialWhateverTheJobStateSays) {
  for (const char* state : {"COMPLETED", "CANCELLED", "TIMEOUT", ""})
    for (bool fail_on_cancel : {false, true})
      EXPECT_EQ(slurm::classify_end(state, 0, fail_on_cancel), slurm::JobEnd::kFinished) << state;
}

TEST(SlurmJobEnd, AJobSlurmEndedIsSubmittedAgainEvenWhenTrainReturnedFirst) {
  // No job_exit: killed before batchlab train returned, whatever the state (or none, forgotten).
  for (const char* state : {"TIMEOUT", "PREEMPTED", "NODE_FAIL", "CANCELLED", "FAILED", ""})
    EXPECT_EQ(slurm::classify_end(state, -1, false), slurm::JobEnd::kEndedEarly) << state;
  // A step killed at the time limit that returned (status 143) before its script was killed.
  for (const char* state : {"TIMEOUT", "PREEMPTED", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "CANCELLED"})
    EXPECT_EQ(slurm::classify_end(state, 143, false), slurm::JobEnd::kEndedEarly) << state;
}

TEST(SlurmJobEnd, ACancelledJobFailsTheTrialWithOnCancelFail) {
  EXPECT_EQ(slurm::classify_end("CANCELLED", -1, true), slurm::JobEnd::kCancelled);
  EXPECT_EQ(slurm::classify_end("CANCELLED", 143, true), slurm::JobEnd::kCancelled);
  EXPECT_EQ(slurm::classify_end("TIMEOUT", -1, true), slurm::JobEnd::kEndedEarly);
}

TEST(SlurmJobEnd, ANonZeroExitInAJobThatEndedByItselfIsTheTrialsOwnFailure) {
  for (const char* state : {"FAILED", "COMPLETED", "OUT_OF_MEMORY", ""})
    EXPECT_EQ(slurm::classify_end(state, 2, false), slurm::JobEnd::kFailed) << state;
}
