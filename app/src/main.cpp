#include <string>
#include <vector>

#include "outpost/app/commands.hpp"

int main(int argc, char** argv) {
    return outpost::app::command_main(std::vector<std::string>(argv + 1, argv + argc));
}
