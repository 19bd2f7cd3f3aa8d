#include "engine/util/name_table.h"

#include <gtest/gtest.h>

namespace streammoe {
namespace {

enum class Colour { kRed, kGreen, kBlue };
inline constexpr NameTable<Colour, 3> kColourNames{{{
    {Colour::kRed, "red", "warm"},
    {Colour::kGreen, "green"},
    {Colour::kBlue, "blue", "cold"},
}}};
constexpr const auto& name_table(Colour) { return kColourNames; }

TEST(NameTable, NamesParsesAndListsInTableOrder) {
  EXPECT_EQ(enum_name(Colour::kGreen), "green");
  Colour c = Colour::kRed;
  ASSERT_TRUE(parse_enum("blue", &c));
  EXPECT_EQ(c, Colour::kBlue);
  EXPECT_EQ(kColourNames.names(), (std::vector<std::string>{"red", "green", "blue"}));
  EXPECT_EQ(kColourNames.valid(), "red, green, blue");
  EXPECT_EQ(kColourNames.help(Colour::kBlue), "cold");
  EXPECT_EQ(kColourNames.help(Colour::kGreen), "");
}

TEST(NameTable, UnknownNamesLeaveTheValueUntouched) {
  Colour c = Colour::kGreen;
  EXPECT_FALSE(parse_enum("Red", &c));  // case matters: names are spelled one way
  EXPECT_FALSE(parse_enum("", &c));
  EXPECT_EQ(c, Colour::kGreen);
}

TEST(NameTable, JoinLeavesOutOneValue) {
  EXPECT_EQ(kColourNames.join(" or ", Colour::kRed), "green or blue");
  EXPECT_EQ(kColourNames.join("|"), "red|green|blue");
}

static_assert(kColourNames.parse("green") == Colour::kGreen, "parsing works at compile time");

}  // namespace
}  // namespace streammoe
