fn main() {
    std::process::exit(brygga::cli::run());
}
