//! ryw-macros
