//! C2SP tlog-checkpoint signed notes. (placeholder)
