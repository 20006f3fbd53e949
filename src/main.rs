fn main() -> std::process::ExitCode {
    douyin_link_bot::cli::main()
}
