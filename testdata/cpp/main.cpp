// Exceptions thrown in one object and caught in another, RTTI, virtual calls, std::map,
// std::string, iostreams, std::thread with thread_local, static constructors and destructors.
#include "shapes.h"
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

// Output goes through iostreams, except in the -fno-pic build: non-PIC code that takes the 32-bit
// address of std::cout (a writable libstdc++ object beyond 2 GiB) is rejected by jitlink with a
// clear error (see tests/it/cpp.rs), so that build writes the same text with stdio.
static void say(const std::string &text)
{
#ifdef NO_IOSTREAM
    std::fputs(text.c_str(), stdout);
#else
    std::cout << text;
#endif
}

static thread_local int per_thread = 10;
static std::mutex out;

struct Announce {
    Announce() { std::printf("main.cpp: static constructor\n"); }
    ~Announce() { std::printf("main.cpp: static destructor\n"); }
} announce;

int main(int argc, char **argv)
{
    std::vector<std::unique_ptr<Shape>> shapes;
    std::map<std::string, double> by_name;
    for (int i = 1; i < argc; i++) {
        try {
            shapes.push_back(make_shape(argv[i]));
            by_name[shapes.back()->name()] += shapes.back()->area();
        } catch (const BadShape &e) {
            say(std::string("rejected: ") + e.what() + "\n");
        } catch (const std::exception &e) {
            say(std::string("error: ") + e.what() + "\n");
        }
    }
    for (const auto &[name, area] : by_name) {
        std::ostringstream line;
        line << name << " total area " << area << "\n";
        say(line.str());
    }
    say("squares: " + std::to_string(count_squares(shapes)) + " of " + std::to_string(shapes.size()) + "\n");
    std::fflush(stdout);

    std::vector<std::thread> threads;
    int results[4] = {};
    for (int t = 0; t < 4; t++)
        threads.emplace_back([t, &results] {
            for (int i = 0; i <= t; i++)
                per_thread += i;
            std::lock_guard<std::mutex> lock(out);
            results[t] = per_thread;
        });
    for (auto &th : threads)
        th.join();
    for (int t = 0; t < 4; t++)
        std::printf("thread %d: %d\n", t, results[t]);
    std::printf("main thread: %d\n", per_thread);
    return static_cast<int>(shapes.size());
}
