// Resume decisions: what a rerun does with each manifest line given the journal.
#include <gtest/gtest.h>

#include "venice_batch/resume.hpp"

using namespace venice_batch;

namespace {
JournalState state(JobStatus s, bool retryable, std::uint64_t hash) {
  JournalState j;
  j.status = s;
  j.retryable = retryable;
  j.request_hash64 = hash;
  return j;
}
}  // namespace

TEST(ResumeTest, NewJobsRunAndDoneJobsAreSkippedWithoutARequest) {
  EXPECT_EQ(resume_job(nullptr, 7, false), ResumeAction::run);
  auto ok = state(JobStatus::ok, false, 7);
  EXPECT_EQ(resume_job(&ok, 7, false), ResumeAction::skip_done);
  EXPECT_EQ(resume_job(&ok, 7, true), ResumeAction::skip_done) << "--retry-failed never redoes an ok job";
}

TEST(ResumeTest, AChangedLineIsDoneAgainEvenIfItWasOk) {
  auto ok = state(JobStatus::ok, false, 7);
  EXPECT_EQ(resume_job(&ok, 8, false), ResumeAction::run_changed);
  auto legacy = state(JobStatus::ok, false, 0);
  EXPECT_EQ(resume_job(&legacy, 8, false), ResumeAction::skip_done) << "a record without a hash cannot tell";
}

TEST(ResumeTest, RetryableFailuresRunAgainOthersOnlyWithRetryFailed) {
  auto transient = state(JobStatus::failed, true, 7);
  EXPECT_EQ(resume_job(&transient, 7, false), ResumeAction::run);
  auto permanent = state(JobStatus::failed, false, 7);
  EXPECT_EQ(resume_job(&permanent, 7, false), ResumeAction::skip_failed);
  EXPECT_EQ(resume_job(&permanent, 7, true), ResumeAction::run);
  auto violation = state(JobStatus::content_violation, false, 7);
  EXPECT_EQ(resume_job(&violation, 7, false), ResumeAction::skip_failed);
}

TEST(ResumeTest, AnIdRecordedInvalidRunsOnceItsLineIsValid) {
  auto invalid = state(JobStatus::invalid, false, 3);
  EXPECT_EQ(resume_job(&invalid, 7, false), ResumeAction::run_changed);
  auto invalid_no_hash = state(JobStatus::invalid, false, 0);
  EXPECT_EQ(resume_job(&invalid_no_hash, 7, false), ResumeAction::run);
}

TEST(ResumeTest, AnInvalidLineIsRecordedOnceAndAFixedOneAgain) {
  EXPECT_EQ(resume_invalid_line(nullptr, 5), ResumeAction::record_invalid);
  auto recorded = state(JobStatus::invalid, false, 5);
  EXPECT_EQ(resume_invalid_line(&recorded, 5), ResumeAction::skip_invalid);
  EXPECT_EQ(resume_invalid_line(&recorded, 6), ResumeAction::record_invalid) << "changed but still invalid";
}

TEST(ResumeTest, ADuplicateIdNeverOverwritesTheOkOfTheFirst) {
  auto ok = state(JobStatus::ok, false, 7);
  EXPECT_EQ(resume_invalid_line(&ok, 5), ResumeAction::keep_done);
}
