//! Entry point of the console's WASM bundle.

fn main() {
    giponext_console::start();
}
