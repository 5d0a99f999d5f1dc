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
RequestEcho prompt(std::string_view p) { return RequestEcho{p, std::nullopt, std::nullopt}; }
RequestEcho seeded(std::string_view p, std::int64_t seed) { return RequestEcho{p, seed, std::nullopt}; }
RequestEcho of_model(std::string_view p, std::string_view model) { return RequestEcho{p, std::nullopt, model}; }
// An answer of model "m" (named as its id, no alias).
EchoCheck::Judgement judge(EchoCheck& c, const RequestEcho& echoed, const RequestEcho& sent, bool reused) {
  return c.judge("m", echoed, sent, reused);
}
Verdict verdict(EchoCheck& c, const RequestEcho& echoed, const RequestEcho& sent, bool reused) {
  return judge(c, echoed, sent, reused).verdict;
}
bool turned_off(const EchoCheck::Judgement& j, Field f) { return j.turned_off[static_cast<std::size_t>(f)]; }
}  // namespace

TEST(EchoCheckTest, TrustedOnceAnEchoMatchesThenAnotherPromptOnAReusedConnectionIsRefused) {
  EchoCheck check;
  EXPECT_EQ(check.state(Field::prompt), State::unknown);
  EXPECT_EQ(verdict(check, prompt("a cat"), prompt("a cat"), false), Verdict::accept);
  EXPECT_EQ(check.state(Field::prompt), State::trusted);
  const auto j = judge(check, prompt("a dog"), prompt("a cat"), true);
  EXPECT_EQ(j.verdict, Verdict::refuse) << "a stray answer kept as this job's image";
  EXPECT_EQ(j.refused_by, Field::prompt);
  EXPECT_EQ(check.state(Field::prompt), State::trusted) << "refusing does not change what the API is known to echo";
  EXPECT_EQ(verdict(check, prompt("a cat"), prompt("a cat"), true), Verdict::accept);
}

TEST(EchoCheckTest, AnAnswerWithoutAnEchoIsAcceptedAndTeachesNothing) {
  EchoCheck check;
  EXPECT_EQ(verdict(check, {}, prompt("a cat"), true), Verdict::accept);
  EXPECT_EQ(check.state(Field::prompt), State::unknown);
  EXPECT_EQ(verdict(check, prompt("a cat"), prompt("a cat"), false), Verdict::accept);
  EXPECT_EQ(verdict(check, {}, seeded("a cat", 7), true), Verdict::accept) << "nothing echoed: nothing to tell";
}

TEST(EchoCheckTest, AnEchoThatDiffersBeforeAnyMatchTurnsTheCheckOffOnceAndForAll) {
  // An API that normalises prompts (here: upper case) never echoes what was sent: refusing its
  // answers would retry, and pay for, every job.
  EchoCheck check;
  const auto j = judge(check, prompt("A CAT"), prompt("a cat"), true);
  EXPECT_EQ(j.verdict, Verdict::accept_and_turn_off);
  EXPECT_TRUE(turned_off(j, Field::prompt));
  EXPECT_EQ(check.state(Field::prompt), State::off);
  EXPECT_EQ(verdict(check, prompt("A DOG"), prompt("a dog"), true), Verdict::accept) << "said once, not per answer";
  EXPECT_EQ(verdict(check, prompt("a cat"), prompt("a cat"), true), Verdict::accept);
  EXPECT_EQ(check.state(Field::prompt), State::off) << "a later match does not turn it back on";
}

TEST(EchoCheckTest, ADifferentEchoOnANewConnectionIsTheApisWayNotAStrayAnswer) {
  // No earlier answer can wait on a connection opened for the request: the API echoed otherwise.
  EchoCheck check;
  EXPECT_EQ(verdict(check, prompt("a cat"), prompt("a cat"), false), Verdict::accept);
  EXPECT_EQ(verdict(check, prompt("A CAT"), prompt("a cat"), false), Verdict::accept_and_turn_off);
  EXPECT_EQ(check.state(Field::prompt), State::off);
  EXPECT_EQ(verdict(check, prompt("a dog"), prompt("a cat"), true), Verdict::accept);
}

TEST(EchoCheckTest, ComparesEveryByte) {
  EchoCheck check;
  EXPECT_EQ(verdict(check, prompt("a cat"), prompt("a cat"), false), Verdict::accept);
  EXPECT_EQ(verdict(check, prompt("a cat "), prompt("a cat"), true), Verdict::refuse);
  EXPECT_EQ(verdict(check, prompt("a cat"), prompt("a cat\n"), true), Verdict::refuse);
  EXPECT_EQ(verdict(check, prompt(""), prompt("a cat"), true), Verdict::refuse);
  EXPECT_EQ(verdict(check, prompt("\xc3\xa9"), prompt("\xc3\xa9"), true), Verdict::accept);
}

// A seed sweep sends one prompt many times: only the seed tells one job's answer from another's.
TEST(EchoCheckTest, InASeedSweepAStrayAnswerIsToldByItsSeed) {
  EchoCheck check;
  EXPECT_EQ(verdict(check, seeded("a cat", 1), seeded("a cat", 1), false), Verdict::accept);
  EXPECT_EQ(check.state(Field::seed, "m"), State::trusted);
  const auto j = judge(check, seeded("a cat", 1), seeded("a cat", 2), true);
  EXPECT_EQ(j.verdict, Verdict::refuse) << "job 1's answer kept as job 2's image";
  EXPECT_EQ(j.refused_by, Field::seed);
  EXPECT_EQ(verdict(check, seeded("a cat", 2), seeded("a cat", 2), true), Verdict::accept);
  EXPECT_EQ(verdict(check, seeded("a cat", 0), seeded("a cat", 0), true), Verdict::accept) << "0 is a seed like any";
  EXPECT_EQ(verdict(check, seeded("a cat", -5), seeded("a cat", 5), true), Verdict::refuse);
}

TEST(EchoCheckTest, ASeedIsComparedOnlyWhenTheRequestSentOne) {
  // Without a seed the API fills a random one in its echo: nothing to compare it with.
  EchoCheck check;
  EXPECT_EQ(verdict(check, seeded("a cat", 1), seeded("a cat", 1), false), Verdict::accept);
  EXPECT_EQ(verdict(check, seeded("a cat", 123456), prompt("a cat"), true), Verdict::accept);
  EXPECT_EQ(check.state(Field::seed, "m"), State::trusted);
  EXPECT_EQ(verdict(check, prompt("a cat"), seeded("a cat", 5), true), Verdict::accept) << "no seed echoed";
}

TEST(EchoCheckTest, EachFieldIsEarnedOnItsOwn) {
  // A model whose echo carries another seed than the one sent (it ignores seeds) loses the seed
  // check, not the prompt check, and never has an answer refused for its seed.
  EchoCheck check;
  const auto first = judge(check, seeded("a cat", 999), seeded("a cat", 1), true);
  EXPECT_EQ(first.verdict, Verdict::accept_and_turn_off);
  EXPECT_FALSE(turned_off(first, Field::prompt));
  EXPECT_TRUE(turned_off(first, Field::seed));
  EXPECT_EQ(check.state(Field::prompt), State::trusted);
  EXPECT_EQ(check.state(Field::seed, "m"), State::off);
  EXPECT_EQ(verdict(check, seeded("a cat", 5), seeded("a cat", 2), true), Verdict::accept);
  EXPECT_EQ(verdict(check, seeded("a dog", 2), seeded("a cat", 2), true), Verdict::refuse) << "the prompt still tells";
}

TEST(EchoCheckTest, TheSeedIsTrustedPerModelThePromptForTheRun) {
  // One model ignoring seeds says nothing of another's seeds; the prompt is the API's to echo.
  EchoCheck check;
  EXPECT_EQ(check.judge("a", seeded("x", 1), seeded("x", 1), false).verdict, Verdict::accept);
  EXPECT_EQ(check.state(Field::seed, "a"), State::trusted);
  EXPECT_EQ(check.state(Field::seed, "b"), State::unknown);
  // Model b's first answer comes on a connection model a used: its seed is not trusted yet, so an
  // echo of another seed turns b's seed check off instead of paying b's job twice.
  const auto b = check.judge("b", seeded("x", 42), seeded("x", 2), true);
  EXPECT_EQ(b.verdict, Verdict::accept_and_turn_off);
  EXPECT_EQ(check.state(Field::seed, "b"), State::off);
  EXPECT_EQ(check.state(Field::seed, "a"), State::trusted);
  EXPECT_EQ(check.judge("a", seeded("x", 9), seeded("x", 2), true).verdict, Verdict::refuse);
  // A stray on model b's first answer that echoes another prompt is refused: the prompt's trust
  // was earned by model a's answer.
  EXPECT_EQ(check.judge("b", seeded("y", 2), seeded("x", 2), true).verdict, Verdict::refuse);
}

TEST(EchoCheckTest, TheModelMayBeEchoedAsTheLineNamesItOrAsTheCatalogId) {
  // A model sweep sends one prompt and seed to several models: the model tells the answers apart.
  EchoCheck check;
  EXPECT_EQ(check.judge("venice-sd35", of_model("x", "venice-sd35"), of_model("x", "stable-diffusion-3.5"),
                        false).verdict,
            Verdict::accept);
  EXPECT_EQ(check.state(Field::model), State::trusted);
  EXPECT_EQ(check.judge("venice-sd35", of_model("x", "stable-diffusion-3.5"), of_model("x", "stable-diffusion-3.5"),
                        true).verdict,
            Verdict::accept);
  const auto j = check.judge("venice-sd35", of_model("x", "flux-dev"), of_model("x", "venice-sd35"), true);
  EXPECT_EQ(j.verdict, Verdict::refuse);
  EXPECT_EQ(j.refused_by, Field::model);
}

TEST(EchoCheckTest, AStrayTeachesNothingItCouldUnlearn) {
  // A refused answer turns no other field off: its unknown seed stays unknown, to be earned later.
  EchoCheck check;
  EXPECT_EQ(verdict(check, prompt("a cat"), prompt("a cat"), false), Verdict::accept);
  const auto j = judge(check, seeded("a dog", 7), seeded("a cat", 8), true);
  EXPECT_EQ(j.verdict, Verdict::refuse);
  EXPECT_FALSE(turned_off(j, Field::seed));
  EXPECT_EQ(check.state(Field::seed, "m"), State::unknown);
}

TEST(EchoCheckTest, AnswersJudgedOnSeveralThreadsAgreeWithSomeOrderOfThem) {
  // Answers are decoded on the CPU pool's threads. Whatever the interleaving: each field is
  // turned off once at most (one warning), a refused answer turns nothing off, and no answer on
  // a new connection is ever refused.
  for (int round = 0; round < 50; ++round) {
    EchoCheck check;
    std::atomic<int> prompt_off{0}, seed_off{0}, refused_turning_off{0}, refused_fresh{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 200; ++i) {
          const bool reused = (i + t) % 3 != 0;
          const auto j = (i + t) % 4 == 0   ? judge(check, seeded("A CAT", 1), seeded("a cat", 1), reused)
                         : (i + t) % 4 == 1 ? judge(check, seeded("a cat", 9), seeded("a cat", 1), reused)
                                            : judge(check, seeded("a cat", 1), seeded("a cat", 1), reused);
          prompt_off += turned_off(j, Field::prompt);
          seed_off += turned_off(j, Field::seed);
          if (j.verdict == Verdict::refuse) {
            refused_turning_off += turned_off(j, Field::prompt) || turned_off(j, Field::seed);
            refused_fresh += !reused;
          }
        }
      });
    for (auto& th : threads) th.join();
    EXPECT_LE(prompt_off.load(), 1);
    EXPECT_LE(seed_off.load(), 1);
    EXPECT_EQ(refused_turning_off.load(), 0);
    EXPECT_EQ(refused_fresh.load(), 0);
  }
}
