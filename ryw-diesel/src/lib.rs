//! ryw-diesel
