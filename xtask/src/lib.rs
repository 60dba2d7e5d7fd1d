//! Developer tasks: run the product, run every test, install what is missing.
