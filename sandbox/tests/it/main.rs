//! Integration tests of the sandbox: the account server driven as a real
//! client would, and the API against the shared resource table.

mod api;
mod support;
