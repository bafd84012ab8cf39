//! Synthetic capture generator (in progress).
