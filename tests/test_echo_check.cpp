// The echo check's decisions without a connection: when an answer is another request's, and
// when the API's echo cannot be used to tell.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "venice_batch/echo_check.hpp"

using namespace venice_batch;
using Verdict = EchoCheck::Verdict;
using State = EchoCheck::State;

TEST(EchoCheckTest, TrustedOnceAnEchoMatchesThenAnotherPromptOnAReusedConnectionIsRefused) {
  EchoCheck check;
  EXPECT_EQ(check.state(), State::unknown);
  EXPECT_EQ(check.judge("a cat", "a cat", false), Verdict::accept);
  EXPECT_EQ(check.state(), State::trusted);
  EXPECT_EQ(check.judge("a dog", "a cat", true), Verdict::refuse) << "a stray answer kept as this job's image";
  EXPECT_EQ(check.state(), State::trusted) << "refusing does not change what the API is known to echo";
  EXPECT_EQ(check.judge("a cat", "a cat", true), Verdict::accept);
}

TEST(EchoCheckTest, AnAnswerWithoutAnEchoIsAcceptedAndTeachesNothing) {
  EchoCheck check;
  EXPECT_EQ(check.judge(std::nullopt, "a cat", true), Verdict::accept);
  EXPECT_EQ(check.state(), State::unknown);
  EchoCheck trusted(State::trusted);
  EXPECT_EQ(trusted.judge(std::nullopt, "a cat", true), Verdict::accept);
}

TEST(EchoCheckTest, AnEchoThatDiffersBeforeAnyMatchTurnsTheCheckOffOnceAndForAll) {
  // An API that normalises prompts (here: upper case) never echoes what was sent: refusing its
  // answers would retry, and pay for, every job.
  EchoCheck check;
  EXPECT_EQ(check.judge("A CAT", "a cat", true), Verdict::accept_and_turn_off);
  EXPECT_EQ(check.state(), State::off);
  EXPECT_EQ(check.judge("A DOG", "a dog", true), Verdict::accept) << "said once, not per answer";
  EXPECT_EQ(check.judge("a cat", "a cat", true), Verdict::accept);
  EXPECT_EQ(check.state(), State::off) << "a later match does not turn it back on";
}

TEST(EchoCheckTest, ADifferentEchoOnANewConnectionIsTheApisWayNotAStrayAnswer) {
  // No earlier answer can wait on a connection opened for the request: the API echoed otherwise.
  EchoCheck check(State::trusted);
  EXPECT_EQ(check.judge("A CAT", "a cat", false), Verdict::accept_and_turn_off);
  EXPECT_EQ(check.state(), State::off);
  EXPECT_EQ(check.judge("a dog", "a cat", true), Verdict::accept);
}

TEST(EchoCheckTest, ComparesEveryByte) {
  EchoCheck check(State::trusted);
  EXPECT_EQ(check.judge("a cat ", "a cat", true), Verdict::refuse);
  EXPECT_EQ(check.judge("a cat", "a cat\n", true), Verdict::refuse);
  EXPECT_EQ(check.judge("", "a cat", true), Verdict::refuse);
  EXPECT_EQ(check.judge("\xc3\xa9", "\xc3\xa9", true), Verdict::accept);
}

TEST(EchoCheckTest, AnswersJudgedOnSeveralThreadsTurnItOffForOneCallerOnly) {
  // Answers are decoded on the CPU pool's threads: the warning must be given once, and no answer
  // may be refused by a check another thread turned off.
  for (int round = 0; round < 50; ++round) {
    EchoCheck check;
    std::atomic<int> turned_off{0}, refused{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 200; ++i) {
          const Verdict v = (i + t) % 2 ? check.judge("a cat", "a cat", true) : check.judge("A CAT", "a cat", false);
          if (v == Verdict::accept_and_turn_off) ++turned_off;
          if (v == Verdict::refuse) ++refused;
        }
      });
    for (auto& th : threads) th.join();
    EXPECT_EQ(turned_off.load(), 1);
    EXPECT_EQ(refused.load(), 0) << "only answers on reused connections are ever refused";
    EXPECT_EQ(check.state(), State::off);
  }
}
