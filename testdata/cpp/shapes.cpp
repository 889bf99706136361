#include "shapes.h"
#include <cstdio>

Shape::~Shape() = default;

double Circle::area() const { return 3.0 * radius * radius; }

namespace {
struct Registry {
    Registry() { std::printf("shapes.cpp: static constructor\n"); }
    ~Registry() { std::printf("shapes.cpp: static destructor\n"); }
} registry;
}

std::unique_ptr<Shape> make_shape(const std::string &spec)
{
    if (spec.size() < 2)
        throw BadShape("too short: '" + spec + "'");
    double size = std::stod(spec.substr(1));
    switch (spec[0]) {
    case 's': return std::make_unique<Square>(size);
    case 'c': return std::make_unique<Circle>(size);
    default: throw BadShape("unknown shape '" + spec + "'");
    }
}

int count_squares(const std::vector<std::unique_ptr<Shape>> &shapes)
{
    int n = 0;
    for (const auto &s : shapes)
        if (dynamic_cast<const Square *>(s.get()))
            n++;
    return n;
}
