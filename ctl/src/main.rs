//! `cairnctl`: etcdctl 3.4's command lines and output on cairn-client.
//! Everything lives in the library ([`cairn_ctl::run`]); this only hands
//! it the command line and the environment and exits with its code.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env: Vec<(String, String)> = std::env::vars().collect();
    std::process::exit(cairn_ctl::run(&args, &env));
}
