#include <iostream>
int main() { std::cout << "concierge\n"; return 0; }
