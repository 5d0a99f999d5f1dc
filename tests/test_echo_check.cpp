// The echo check's decisions without a connection: when an answer is another request's, and
// when the API's echo cannot be used to tell.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "venice_batch/echo_check.hpp"

using namespace venice_batch;
using Verdict = EchoCheck::Verdict;
using State = EchoCheck::State;
using Field = EchoCheck::Field;

namespace {
RequestEcho prompt(std::string_view p) { return RequestEcho{p, std::nullopt}; }
RequestEcho both(std::string_view p, std::int64_t seed) { return RequestEcho{p, seed}; }
Verdict verdict(EchoCheck& c, const RequestEcho& echoed, const RequestEcho& sent, bool reused) {
  return c.judge(echoed, sent, reused).verdict;
}
}  // namespace

TEST(EchoCheckTest, TrustedOnceAnEchoMatchesThenAnotherPromptOnAReusedConnectionIsRefused) {
  EchoCheck check;
  EXPECT_EQ(check.state(Field::prompt), State::unknown);
  EXPECT_EQ(verdict(check, prompt("a cat"), prompt("a cat"), false), Verdict::accept);
  EXPECT_EQ(check.state(Field::prompt), State::trusted);
  const auto j = check.judge(prompt("a dog"), prompt("a cat"), true);
  EXPECT_EQ(j.verdict, Verdict::refuse) << "a stray answer kept as this job's image";
  EXPECT_EQ(j.refused_by, Field::prompt);
  EXPECT_EQ(check.state(Field::prompt), State::trusted) << "refusing does not change what the API is known to echo";
  EXPECT_EQ(verdict(check, prompt("a cat"), prompt("a cat"), true), Verdict::accept);
}

TEST(EchoCheckTest, AnAnswerWithoutAnEchoIsAcceptedAndTeachesNothing) {
  EchoCheck check;
  EXPECT_EQ(verdict(check, {}, prompt("a cat"), true), Verdict::accept);
  EXPECT_EQ(check.state(Field::prompt), State::unknown);
  EchoCheck trusted(State::trusted, State::trusted);
  EXPECT_EQ(verdict(trusted, {}, both("a cat", 7), true), Verdict::accept);
}

TEST(EchoCheckTest, AnEchoThatDiffersBeforeAnyMatchTurnsTheCheckOffOnceAndForAll) {
  // An API that normalises prompts (here: upper case) never echoes what was sent: refusing its
  // answers would retry, and pay for, every job.
  EchoCheck check;
  const auto j = check.judge(prompt("A CAT"), prompt("a cat"), true);
  EXPECT_EQ(j.verdict, Verdict::accept_and_turn_off);
  EXPECT_TRUE(j.turned_off[static_cast<int>(Field::prompt)]);
  EXPECT_EQ(check.state(Field::prompt), State::off);
  EXPECT_EQ(verdict(check, prompt("A DOG"), prompt("a dog"), true), Verdict::accept) << "said once, not per answer";
  EXPECT_EQ(verdict(check, prompt("a cat"), prompt("a cat"), true), Verdict::accept);
  EXPECT_EQ(check.state(Field::prompt), State::off) << "a later match does not turn it back on";
}

TEST(EchoCheckTest, ADifferentEchoOnANewConnectionIsTheApisWayNotAStrayAnswer) {
  // No earlier answer can wait on a connection opened for the request: the API echoed otherwise.
  EchoCheck check(State::trusted, State::unknown);
  EXPECT_EQ(verdict(check, prompt("A CAT"), prompt("a cat"), false), Verdict::accept_and_turn_off);
  EXPECT_EQ(check.state(Field::prompt), State::off);
  EXPECT_EQ(verdict(check, prompt("a dog"), prompt("a cat"), true), Verdict::accept);
}

TEST(EchoCheckTest, ComparesEveryByte) {
  EchoCheck check(State::trusted, State::trusted);
  EXPECT_EQ(verdict(check, prompt("a cat "), prompt("a cat"), true), Verdict::refuse);
  EXPECT_EQ(verdict(check, prompt("a cat"), prompt("a cat\n"), true), Verdict::refuse);
  EXPECT_EQ(verdict(check, prompt(""), prompt("a cat"), true), Verdict::refuse);
  EXPECT_EQ(verdict(check, prompt("\xc3\xa9"), prompt("\xc3\xa9"), true), Verdict::accept);
}

// A seed sweep sends one prompt many times: only the seed tells one job's answer from another's.
TEST(EchoCheckTest, InASeedSweepAStrayAnswerIsToldByItsSeed) {
  EchoCheck check;
  EXPECT_EQ(verdict(check, both("a cat", 1), both("a cat", 1), false), Verdict::accept);
  EXPECT_EQ(check.state(Field::seed), State::trusted);
  const auto j = check.judge(both("a cat", 1), both("a cat", 2), true);
  EXPECT_EQ(j.verdict, Verdict::refuse) << "job 1's answer kept as job 2's image";
  EXPECT_EQ(j.refused_by, Field::seed);
  EXPECT_EQ(verdict(check, both("a cat", 2), both("a cat", 2), true), Verdict::accept);
  EXPECT_EQ(verdict(check, both("a cat", 0), both("a cat", 0), true), Verdict::accept) << "0 is a seed like any";
}

TEST(EchoCheckTest, ASeedIsComparedOnlyWhenTheRequestSentOne) {
  // Without a seed the API fills a random one in its echo: nothing to compare it with.
  EchoCheck check(State::trusted, State::trusted);
  EXPECT_EQ(verdict(check, both("a cat", 123456), prompt("a cat"), true), Verdict::accept);
  EXPECT_EQ(check.state(Field::seed), State::trusted);
  EXPECT_EQ(verdict(check, prompt("a cat"), both("a cat", 5), true), Verdict::accept) << "no seed echoed";
}

TEST(EchoCheckTest, EachFieldIsEarnedOnItsOwn) {
  // A model whose echo carries another seed than the one sent (it ignores seeds) loses the seed
  // check, not the prompt check, and never has an answer refused for its seed.
  EchoCheck check;
  const auto first = check.judge(both("a cat", 999), both("a cat", 1), true);
  EXPECT_EQ(first.verdict, Verdict::accept_and_turn_off);
  EXPECT_FALSE(first.turned_off[static_cast<int>(Field::prompt)]);
  EXPECT_TRUE(first.turned_off[static_cast<int>(Field::seed)]);
  EXPECT_EQ(check.state(Field::prompt), State::trusted);
  EXPECT_EQ(check.state(Field::seed), State::off);
  EXPECT_EQ(verdict(check, both("a cat", 5), both("a cat", 2), true), Verdict::accept);
  EXPECT_EQ(verdict(check, both("a dog", 2), both("a cat", 2), true), Verdict::refuse) << "the prompt still tells";
}

TEST(EchoCheckTest, AStrayTeachesNothingItCouldUnlearn) {
  // A refused answer turns no other field off: its unknown seed stays unknown, to be earned later.
  EchoCheck check(State::trusted, State::unknown);
  EXPECT_EQ(verdict(check, both("a dog", 7), both("a cat", 8), true), Verdict::refuse);
  EXPECT_EQ(check.state(Field::seed), State::unknown);
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
          const auto j = (i + t) % 2 ? check.judge(prompt("a cat"), prompt("a cat"), true)
                                     : check.judge(prompt("A CAT"), prompt("a cat"), false);
          if (j.verdict == Verdict::accept_and_turn_off) ++turned_off;
          if (j.verdict == Verdict::refuse) ++refused;
        }
      });
    for (auto& th : threads) th.join();
    EXPECT_EQ(turned_off.load(), 1);
    EXPECT_EQ(refused.load(), 0) << "only answers on reused connections are ever refused";
    EXPECT_EQ(check.state(Field::prompt), State::off);
  }
}
