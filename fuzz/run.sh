#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each), one after the
# other, on the stable toolchain (no sanitizer: see README.md). Seeds each empty
# corpus from the test vectors and sample terms in the repository first.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Stops at the first target that finds a crash; the input is left under
# fuzz/artifacts/TARGET/ and can be replayed with
#   cargo fuzz run --sanitizer none TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail

seconds="${1:-60}"
shift || true
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cd "$here"

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(request entry checkpoint terms commands)
fi

# The vendored protoc that the root crate's build uses, to encode request seeds
# from their text form (optional: without it the request corpus starts empty).
protoc_dir="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/protoc-bin-vendored-linux-x86_64-* 2>/dev/null | tail -n 1 || true)"

seed_request() {
    local dir=corpus/request
    [ -x "$protoc_dir/bin/protoc" ] || { echo "no vendored protoc found; request corpus starts empty"; return; }
    local tmp
    tmp="$(mktemp -d)"
    # One seed per block; blocks are separated by a line "--".
    awk -v dir="$tmp" 'BEGIN { n = 1 } /^--$/ { n++; next } { print > (dir "/" n ".txtpb") }' <<'SEEDS'
ledger_origin: "fuzz.example/dbond" issued_at { seconds: 1894708800 } nonce: "0123456789abcdef"
command { submit_subscription { series_id: "AZ-2035-USD" investor_ref: "inv-002" category: DIASPORA_CATEGORY_FORMER_CITIZEN country: "US" units: "25" idempotency_key: "order-2" } }
--
ledger_origin: "fuzz.example/dbond" issued_at { seconds: 1894708800 } nonce: "0123456789abcdef"
command { submit_subscription { series_id: "AZ-2035-USD" investor_ref: "inv-001" category: DIASPORA_CATEGORY_CITIZEN_ABROAD country: "DE" units: "10" idempotency_key: "order-1" } }
--
command { register_participant { participant_id: "bank-c" role: ROLE_BANK public_key: "\xfd\x17\x24\x38\x5a\xa0\xc7\x5b\x64\xfb\x78\xcd\x60\x2f\xa1\xd9\x91\xfd\xeb\xf7\x6b\x13\xc5\x8e\xd7\x02\xea\xc8\x35\xe9\xf6\x18" display_name: "Bank C" } }
--
command { rotate_key { participant_id: "bank-a" new_public_key: "\xfd\x17\x24\x38\x5a\xa0\xc7\x5b\x64\xfb\x78\xcd\x60\x2f\xa1\xd9\x91\xfd\xeb\xf7\x6b\x13\xc5\x8e\xd7\x02\xea\xc8\x35\xe9\xf6\x18" } }
--
command { revoke_participant { participant_id: "bank-b" reason: "licence withdrawn" } }
--
command { close_series { series_id: "AZ-2035-USD" } }
--
command { cancel_series { series_id: "AZ-2035-USD" reason: "market conditions" } }
--
command { withdraw_subscription { subscription_id: 7 } }
--
command { publish_fixing { reference_rate: "SOFR" fixing_date: "2030-01-15" rate: "0.0375" } }
--
command { post_accrual_event { series_id: "AZ-2035-USD" event_id: "AZ-2035-USD/record/0" } }
--
command { post_accrual_event { series_id: "AZ-2035-USD" event_id: "AZ-2035-USD/coupon/0" } }
--
command { post_accrual_event { series_id: "AZ-2035-USD" event_id: "AZ-2035-USD/redemption" } }
--
command { allot_series { series_id: "AZ-2035-USD" } }
--
command { release_unsettled { series_id: "AZ-2035-USD" } }
--
command { issue_series { series_id: "AZ-2035-USD" } }
--
command { confirm_settlement { subscription_id: 9 } }
--
command { create_series { terms {
  series_id: "AZ-2040-EUR" name: "Diaspora bond 2040" currency: "EUR" face_value: "500"
  min_units_per_investor: "1" max_units_per_investor: "1000" cap_units: "100000"
  coupon { step_up { steps { from_date: "2030-02-01" rate: "0.03" } steps { from_date: "2033-02-01" rate: "0.04" } } }
  frequency: "annual" day_count: "30/360 US" business_day_convention: "modified_following"
  calendar: "weekends_only" end_of_month: true record_date_lag_days: 3
  issue_date: "2030-02-01" maturity_date: "2040-02-01"
  window_opens_at { seconds: 1894705200 } window_closes_at { seconds: 1895313600 }
  allotment_rule: ALLOTMENT_RULE_RETAIL_PRIORITY retail_priority_units: "10"
  eligibility { categories: DIASPORA_CATEGORY_CITIZEN_ABROAD categories: DIASPORA_CATEGORY_AFFINITY countries_allowed: "DE" countries_allowed: "FR" }
  pricing { issue_price { price: "99.5" } }
  settlement_deadline { seconds: 1895572800 } } } }
--
command { create_series { terms {
  series_id: "AZ-2033-USD" name: "Floating 2033" currency: "USD" face_value: "100"
  min_units_per_investor: "5" max_units_per_investor: "50" cap_units: "2000"
  coupon { floating { reference_rate: "SOFR" spread: "0.0025" floor: "0" } }
  frequency: "quarterly" day_count: "ACT/360" business_day_convention: "following"
  calendar: "weekends_only" issue_date: "2030-02-01" maturity_date: "2033-02-01"
  window_opens_at { seconds: 1894705200 } window_closes_at { seconds: 1895313600 }
  allotment_rule: ALLOTMENT_RULE_FIRST_COME_FIRST_SERVED
  eligibility { categories: DIASPORA_CATEGORY_CHILD_OF_CITIZEN_ABROAD }
  pricing { diaspora { reference_yield: "0.06" discount_bps: "100" derive_par_coupon: true } }
  settlement_deadline { seconds: 1895572800 } } } }
SEEDS
    for text in "$tmp"/*.txtpb; do
        "$protoc_dir/bin/protoc" -I "$root/proto" -I "$protoc_dir/include" \
            --encode=diaspora.bonds.v1.RequestPayload "$root/proto/diaspora/bonds/v1/ledger.proto" \
            < "$text" > "$dir/seed-$(basename "$text" .txtpb)"
    done
    rm -r "$tmp"
}

seed_entry() {
    local dir=corpus/entry
    sed -n 's/^entry_[0-9]* = \([0-9a-f]*\)$/\1/p' "$root/docs/LEDGER_FORMAT.md" |
        while read -r hex; do
            printf '%s' "$hex" | xxd -r -p > "$dir/vector-${hex:0:16}"
        done
}

seed_checkpoint() {
    local dir=corpus/checkpoint
    sed -n 's/^checkpoint_[0-9]* = \(.*\)$/\1/p' "$root/docs/LEDGER_FORMAT.md" |
        while read -r note; do
            printf '%b' "$note" > "$dir/vector"
        done
}

seed_terms() {
    local dir=corpus/terms
    local sample="$root/ledger-tests/vectors/pricing-sample.json"
    command -v jq > /dev/null || { echo "no jq; terms corpus starts empty"; return; }
    local count
    count="$(jq length "$sample")"
    for i in $(seq 0 $((count - 1))); do
        {
            jq -r ".[$i].price_from_yield[0].settle // \"2030-06-30\"" "$sample"
            jq -r ".[$i].price_from_yield[0].yield // \"0.05\"" "$sample"
            jq -r ".[$i].yield_from_price[0].clean_price // \"99.5\"" "$sample"
            echo "0.065"
            echo "150"
            jq -c ".[$i].terms" "$sample"
        } > "$dir/sample-$i"
    done
}

seed_commands() {
    # Any bytes are a run of commands (registry::sim): the corpus starts empty.
    :
}

for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    if [ -z "$(ls -A "corpus/$target")" ]; then
        "seed_$target"
    fi
    echo "== fuzzing $target for ${seconds} s ($(ls "corpus/$target" | wc -l) inputs in corpus)"
    cargo fuzz run --sanitizer none "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1
done
