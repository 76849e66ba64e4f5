"""Properties of the pure parts, checked with hypothesis over many generated inputs: the
lifecycle tables (cases/workflow.py), working-day deadline arithmetic around weekends and
holidays (cases/workflow.py, cases/deadlines.py), canonical JSON and the chain hash
(audit/chain.py), and Vietnamese name folding (protection/search.py, cases/subjects/name_search.py).

Bounded so the suite stays quick on a two-core CI: a modest number of examples, no deadline
per example (a shared machine is slow now and then), and no example database on disk."""

from __future__ import annotations

import json
import unicodedata
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from audit import chain
from cases import deadlines, labels, workflow
from cases.subjects.name_search import name_words
from cases.workflow import CONCLUSION, COORDINATION, PETITION, REVIEW, IllegalTransition
from protection.search import vietnamese_name

BOUNDED = settings(max_examples=75, deadline=None, database=None)

# --- the lifecycle tables ------------------------------------------------------------------------

STATE_LABELS = {"review": labels.CASE_STATES, "petition": labels.CASE_STATES,
                "coordination": labels.REQUEST_STATES, "conclusion": labels.CONCLUSION_STATES}
WORKFLOWS = (REVIEW, PETITION, COORDINATION, CONCLUSION)
ROLES = (None, "officer", "supervisor", "liaison", "auditor", "admin")


@st.composite
def walks(draw):
    """A workflow and a sequence of (action, role) attempts, legal or not."""
    flow = draw(st.sampled_from(WORKFLOWS))
    actions = sorted({item.action for item in flow.transitions} | {"approve", "delete", ""})
    steps = draw(st.lists(st.tuples(st.sampled_from(actions), st.sampled_from(ROLES)), max_size=30))
    return flow, steps


@BOUNDED
@given(walks())
def test_a_walk_through_a_workflow_never_reaches_an_undeclared_state(walk):
    flow, steps = walk
    state = flow.initial
    for action, role in steps:
        declared = [item for item in flow.transitions if item.source == state and item.action == action
                    and (role is None or role in item.roles)]
        try:
            taken = flow.transition(state, action, role)
        except IllegalTransition as refused:
            assert declared == [], f"{flow.kind}: {action} by {role} from {state} is declared"
            assert (refused.kind, refused.state, refused.action) == (flow.kind, state, action)
            continue  # a refused step leaves the state as it was
        assert [taken] == declared, "exactly the one declared row is taken"
        assert taken in flow.actions(state, role)
        state = taken.target
        assert state in flow.states, f"{flow.kind}: reached undeclared state {state!r}"
        assert state in STATE_LABELS[flow.kind], f"{flow.kind}: state {state!r} has no label"


def test_every_declared_state_is_reachable_and_every_open_state_has_a_way_on():
    """The other half of the property above: the tables hold no dead rows or stuck states."""
    for flow in WORKFLOWS:
        reached, frontier = {flow.initial}, [flow.initial]
        while frontier:
            state = frontier.pop()
            for item in flow.actions(state):
                if item.target not in reached:
                    reached.add(item.target)
                    frontier.append(item.target)
        assert reached == set(flow.states), flow.kind
        for state in flow.states:
            assert flow.is_open(state) == (state not in flow.final)
            if flow.is_open(state):
                assert flow.actions(state), f"{flow.kind}: open state {state!r} has no way on"


# --- working days ----------------------------------------------------------------------------------

days_around_now = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
# Holidays clustered near the start day, so they really fall among the counted days.
holiday_offsets = st.lists(st.integers(min_value=-3, max_value=40), max_size=12)


def working_days_between(start: date, end: date, holidays: set[date]) -> int:
    """Working days in (start, end], counted one by one."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += day.weekday() < 5 and day not in holidays
    return count


@BOUNDED
@given(days_around_now, st.integers(min_value=0, max_value=60), holiday_offsets)
def test_working_days_land_on_a_working_day_after_exactly_that_many(start, days, offsets):
    holidays = {start + timedelta(days=offset) for offset in offsets}
    due = workflow.add_days(start, days, working_days=True, holidays=holidays)
    assert working_days_between(start, due, holidays) == days
    if days == 0:
        assert due == start
    else:
        assert due > start and due.weekday() < 5 and due not in holidays, "never due on a weekend or holiday"
        assert working_days_between(start, due - timedelta(days=1), holidays) == days - 1, "the first such day"


@BOUNDED
@given(days_around_now, st.integers(min_value=0, max_value=30), st.integers(min_value=0, max_value=30),
       holiday_offsets)
def test_working_days_add_up(start, first, second, offsets):
    holidays = {start + timedelta(days=offset) for offset in offsets}
    step = workflow.add_days(workflow.add_days(start, first, working_days=True, holidays=holidays), second,
                             working_days=True, holidays=holidays)
    assert step == workflow.add_days(start, first + second, working_days=True, holidays=holidays)


@BOUNDED
@given(days_around_now, st.integers(min_value=0, max_value=400), st.lists(days_around_now, max_size=5))
def test_calendar_days_ignore_weekends_and_holidays(start, days, holidays):
    assert workflow.add_days(start, days, working_days=False, holidays=holidays) == start + timedelta(days=days)


@BOUNDED
@given(days_around_now, st.integers(min_value=1, max_value=20), st.integers(min_value=0, max_value=30),
       st.integers(min_value=0, max_value=3), st.booleans(), holiday_offsets)
def test_a_due_date_with_extensions_is_the_days_then_each_extension(start, days, extension_days, extensions,
                                                                    working, offsets):
    holidays = [start + timedelta(days=offset) for offset in offsets]
    rule = workflow.DeadlineRule("test", "received", days, working_days=working, max_extensions=3,
                                 extension_days=extension_days)
    expected = workflow.add_days(start, days, working_days=working, holidays=holidays)
    for _ in range(extensions):
        expected = workflow.add_days(expected, extension_days, working_days=working, holidays=holidays)
    assert workflow.due_date(rule, start, extensions=extensions, holidays=holidays) == expected
    assert workflow.due_date(rule, start, extensions=extensions, holidays=holidays) >= start


def test_the_apps_working_days_skip_its_configured_holidays(app):
    """cases.deadlines counts with the installation's HOSO_HOLIDAYS: around a Tết break in 2027
    (Friday 5 to Friday 12 February) from random starts."""
    tet = [date(2027, 2, 5) + timedelta(days=offset) for offset in range(8)]
    app.config["HOSO_HOLIDAYS"] = tuple(tet)

    @BOUNDED
    @given(st.dates(min_value=date(2027, 1, 20), max_value=date(2027, 2, 20)), st.integers(0, 25))
    def check(start, days):
        due = deadlines.add_working_days(start, days)
        assert due == workflow.add_days(start, days, working_days=True, holidays=tet)
        assert working_days_between(start, due, set(tet)) == days
        assert days == 0 or due not in tet

    with app.app_context():
        check()
        # Thursday 4 February plus one working day: the break and the weekend after it are skipped.
        assert deadlines.add_working_days(date(2027, 2, 4), 1) == date(2027, 2, 15)


# --- canonical JSON and the chain hash -------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers(min_value=-(2**53), max_value=2**53) | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@BOUNDED
@given(json_values)
def test_canonical_json_reads_back_and_does_not_depend_on_key_order(value):
    encoded = chain.canonical_json(value)
    assert json.loads(encoded.decode("utf-8")) == value
    if isinstance(value, dict):
        reordered = dict(reversed(list(value.items())))
        assert chain.canonical_json(reordered) == encoded
    assert chain.canonical_json(json.loads(encoded)) == encoded, "a fixed point: re-encoding changes nothing"


optional_text = st.none() | st.text(max_size=24)
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC))


@st.composite
def entry_fields(draw) -> dict:
    return {
        "occurred_at": draw(moments), "actor_id": draw(st.none() | st.uuids()),
        "actor_role": draw(optional_text), "actor_unit": draw(optional_text), "action": draw(st.text(max_size=24)),
        "target_type": draw(optional_text), "target_id": draw(optional_text), "outcome": draw(st.text(max_size=8)),
        "client_address": draw(optional_text), "request_id": draw(optional_text),
        "detail": draw(st.text(max_size=40)),
    }


hashes = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


@BOUNDED
@given(hashes, entry_fields())
def test_the_fast_payload_is_the_canonical_one_and_links_the_same(prev_hash, fields):
    payload = chain.entry_payload(fields)
    values = [payload[name] for name in chain.SORTED_FIELDS]
    text = chain.payload_text(values)
    assert text.encode("utf-8") == chain.canonical_json(payload)
    assert chain.payload_of_text(*values) == text
    assert chain.link_hash(prev_hash, text) == chain.entry_hash(prev_hash, fields)


@BOUNDED
@given(hashes, entry_fields(), st.sampled_from(chain.HASHED_FIELDS), st.data())
def test_changing_any_hashed_field_or_the_link_changes_the_hash(prev_hash, fields, name, data):
    original = chain.entry_hash(prev_hash, fields)
    changed = dict(fields)
    if name == "occurred_at":
        changed[name] = fields[name] + timedelta(microseconds=data.draw(st.integers(1, 10**6)))
    elif name == "actor_id":
        changed[name] = data.draw(st.uuids().filter(lambda value: value != fields[name]))
    else:
        changed[name] = data.draw(st.text(max_size=24).filter(lambda value: value != fields[name]))
    assert chain.entry_hash(prev_hash, changed) != original, name
    other_link = data.draw(hashes.filter(lambda value: value != prev_hash))
    assert chain.entry_hash(other_link, fields) != original
    # Fields outside the hashed set (the sequence number) do not count.
    assert chain.entry_hash(prev_hash, {**fields, "seq": 7}) == original


@BOUNDED
@given(hashes, moments)
def test_a_moment_hashes_the_same_in_any_time_zone(prev_hash, moment):
    fields = {"occurred_at": moment, "actor_id": uuid.UUID(int=1), "action": "case.view", "outcome": "ok",
              "detail": "{}"}
    in_vietnam = moment.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert chain.entry_hash(prev_hash, {**fields, "occurred_at": in_vietnam}) == chain.entry_hash(prev_hash, fields)


# --- Vietnamese name folding -----------------------------------------------------------------------

VIETNAMESE_LETTERS = ("aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợ"
                      "pqrstuùúủũụưừứửữựvxyỳýỷỹỵ")
BASE = {letter: unicodedata.normalize("NFD", letter)[0].replace("đ", "d") for letter in VIETNAMESE_LETTERS}
words = st.text(alphabet=VIETNAMESE_LETTERS + VIETNAMESE_LETTERS.upper(), min_size=1, max_size=8)
names = st.lists(words, min_size=1, max_size=5).map(" ".join)
spacing = st.text(alphabet=" \t\n\u00a0\u3000", min_size=1, max_size=3)


@BOUNDED
@given(names, st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"]))
def test_a_name_folds_the_same_however_it_was_composed(name, form):
    assert vietnamese_name(unicodedata.normalize(form, name)) == vietnamese_name(name)
    assert name_words(unicodedata.normalize(form, name)) == name_words(name)


@BOUNDED
@given(names)
def test_a_name_folds_the_same_in_any_case(name):
    assert vietnamese_name(name.upper()) == vietnamese_name(name.lower()) == vietnamese_name(name.title())


@BOUNDED
@given(st.lists(words, min_size=1, max_size=5), st.lists(spacing, min_size=6, max_size=6))
def test_spaces_between_and_around_words_do_not_count(parts, gaps):
    spaced = gaps[0] + "".join(part + gaps[1 + index % 5] for index, part in enumerate(parts))
    assert vietnamese_name(spaced) == vietnamese_name(" ".join(parts))


@BOUNDED
@given(names)
def test_a_folded_name_is_plain_lowercase_words_letter_for_letter(name):
    folded = vietnamese_name(name)
    assert folded is not None and folded.isascii() and folded == folded.lower()
    assert folded == " ".join(folded.split()), "single spaces, none around"
    assert vietnamese_name(folded) == folded, "folding is idempotent"
    expected = " ".join("".join(BASE[letter] for letter in word.lower()) for word in name.split())
    assert folded == expected
    assert name_words(name) == set(folded.split())


@BOUNDED
@given(st.text(max_size=30))
def test_any_text_folds_to_single_spaced_words_or_nothing(text):
    folded = vietnamese_name(text)
    assert folded is None or (folded and folded == " ".join(folded.split()))
    assert folded is None or not any(unicodedata.combining(char) for char in folded)
