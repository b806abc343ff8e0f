//! The live node (in progress).
