// Exceptions thrown in one object and caught in another, RTTI, virtual calls, std::map,
// std::string, iostreams, std::thread with thread_local, static constructors and destructors.
#include "shapes.h"
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

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
            std::cout << "rejected: " << e.what() << "\n";
        } catch (const std::exception &e) {
            std::cout << "error: " << e.what() << "\n";
        }
    }
    for (const auto &[name, area] : by_name)
        std::cout << name << " total area " << area << "\n";
    std::cout << "squares: " << count_squares(shapes) << " of " << shapes.size() << std::endl;

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
