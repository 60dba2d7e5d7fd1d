//! The giponext command line: Device Code login and batch tools.
