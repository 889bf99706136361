// Shapes with virtual calls, RTTI and exceptions, split across two objects.
#pragma once
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

struct Shape {
    virtual ~Shape();
    virtual double area() const = 0;
    virtual std::string name() const = 0;
};

struct Square : Shape {
    explicit Square(double s) : side(s) {}
    double area() const override { return side * side; }
    std::string name() const override { return "square"; }
    double side;
};

struct Circle : Shape {
    explicit Circle(double r) : radius(r) {}
    double area() const override;
    std::string name() const override { return "circle"; }
    double radius;
};

struct BadShape : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::unique_ptr<Shape> make_shape(const std::string &spec);  // throws BadShape
int count_squares(const std::vector<std::unique_ptr<Shape>> &shapes);
