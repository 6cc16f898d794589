//! ryw-core
