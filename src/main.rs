//! The `tallyfy-groups` binary: runs the library's entry point and exits with its status.

fn main() {
    let status = tallyfy_groups::run(std::env::args_os());
    std::process::exit(status.code());
}
