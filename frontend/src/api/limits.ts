// Generated from src/exbert/view.py by `make api`; do not edit.

export const ALL_LAYERS_BYTES = 33554432;
export const AUTO_LAZY_BYTES = 335544320;
export const DEFAULT_K = 50;
export const DEFAULT_K_SHOWN = 10;
export const DEFAULT_THRESHOLD = 0.7;
export const DEFAULT_TOP_HEADS = 10;
export const DEFAULT_TOP_K = 5;
export const DEFAULT_WINDOW = 2;
export const MAX_BINS = 1024;
export const MAX_FULL_ATTENTION_BYTES = 2147483648;
export const MAX_INDEX = 1000000;
export const MAX_K = 1000;
export const MAX_POSITIONS_LISTED = 512;
export const MAX_ROWS = 4096;
export const MAX_ROW_VALUES = 33554432;
export const MAX_TEXT_CHARS = 400000;
export const MAX_TOP_K = 100;
export const MAX_WINDOW = 10;
export const MAX_WINDOW_TOKENS = 512;
