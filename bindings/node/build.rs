//! Emits the link settings a Node addon needs (napi symbols come from the host process).

fn main() {
    napi_build::setup();
}
