//! ryw-testkit
