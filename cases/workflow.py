"""Every lifecycle and deadline rule of case work, as data (DESIGN.md §2.8).

Pure Python, no Flask and no database: a reader sees a whole lifecycle on one screen,
services ask `Workflow.transition()` before they change a state, and tests can check the
tables directly. Role names are plain strings (protection.identity.Role values).

Kinds of work (issue 5):
- REVIEW: thẩm định tiêu chuẩn chính trị, for one subject and a purpose;
- PETITION: đơn thư, from intake decision to an approved conclusion;
- COORDINATION: a request to another body (phối hợp), answered by its liaison;
- CONCLUSION: a draft, submitted to a supervisor, returned or approved (then immutable).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta


class IllegalTransition(ValueError):
    """An action that the current state does not allow (or not to this role)."""

    def __init__(self, kind: str, state: str, action: str):
        super().__init__(f"{kind}: {action!r} is not allowed from {state!r}")
        self.kind, self.state, self.action = kind, state, action


@dataclass(frozen=True)
class Transition:
    source: str
    target: str
    action: str
    roles: frozenset[str]


class Workflow:
    def __init__(self, kind: str, initial: str, *rows: tuple[str, str, str, set[str]], final: Iterable[str] = ()):
        self.kind = kind
        self.initial = initial
        self.transitions = tuple(Transition(source, target, action, frozenset(roles))
                                 for source, target, action, roles in rows)
        self.final = frozenset(final)
        self.states = tuple(dict.fromkeys([initial, *(t.source for t in self.transitions),
                                           *(t.target for t in self.transitions)]))
        seen: set[tuple[str, str]] = set()
        for item in self.transitions:
            if (item.source, item.action) in seen:
                raise ValueError(f"{kind}: two transitions for {item.action!r} from {item.source!r}")
            seen.add((item.source, item.action))

    def transition(self, state: str, action: str, role: str | None = None) -> Transition:
        """The transition `action` takes from `state`; IllegalTransition when there is none
        or when `role` may not take it."""
        for item in self.transitions:
            if item.source == state and item.action == action and (role is None or role in item.roles):
                return item
        raise IllegalTransition(self.kind, state, action)

    def actions(self, state: str, role: str | None = None) -> list[Transition]:
        return [item for item in self.transitions
                if item.source == state and (role is None or role in item.roles)]

    def is_open(self, state: str) -> bool:
        return state not in self.final


OFFICER, SUPERVISOR, LIAISON = "officer", "supervisor", "liaison"

# Political-standard review: rà soát → thẩm tra → xác minh → thẩm định → kết luận.
# Verification is skipped when the records settle the facts (appraisal straight from
# examination); a returned conclusion goes back to drafting.
REVIEW = Workflow(
    "review", "records_review",
    ("records_review", "examination",  "start_examination",    {OFFICER}),
    ("examination",    "verification", "start_verification",   {OFFICER}),
    ("examination",    "appraisal",    "start_appraisal",      {OFFICER}),
    ("verification",   "appraisal",    "start_appraisal",      {OFFICER}),
    ("appraisal",      "concluding",   "start_conclusion",     {OFFICER}),
    ("concluding",     "submitted",    "submit_conclusion",    {OFFICER}),
    ("submitted",      "concluding",   "return_conclusion",    {SUPERVISOR}),
    ("submitted",      "closed",       "approve_conclusion",   {SUPERVISOR}),
    ("closed",         "concluding",   "start_correction",     {OFFICER}),
    final=("closed",),
)

# Petition: the intake decision, then handling of an accepted one to an approved conclusion.
PETITION = Workflow(
    "petition", "received",
    ("received",       "accepted",     "accept",               {OFFICER}),
    ("received",       "forwarded",    "forward",              {OFFICER}),
    ("received",       "monitoring",   "keep_for_monitoring",  {OFFICER}),
    ("received",       "filed",        "file",                 {OFFICER}),
    ("monitoring",     "accepted",     "accept",               {OFFICER}),
    ("monitoring",     "filed",        "file",                 {OFFICER}),
    ("accepted",       "verification", "start_verification",   {OFFICER}),
    ("accepted",       "concluding",   "start_conclusion",     {OFFICER}),
    ("verification",   "concluding",   "start_conclusion",     {OFFICER}),
    ("concluding",     "submitted",    "submit_conclusion",    {OFFICER}),
    ("submitted",      "concluding",   "return_conclusion",    {SUPERVISOR}),
    ("submitted",      "closed",       "approve_conclusion",   {SUPERVISOR}),
    ("closed",         "concluding",   "start_correction",     {OFFICER}),
    final=("forwarded", "filed", "closed"),
)

# A coordination request to another body: its liaison acknowledges and answers; the
# officer accepts the answer (its findings join the case) or asks for more.
COORDINATION = Workflow(
    "coordination", "sent",
    ("sent",           "acknowledged", "acknowledge",          {LIAISON}),
    ("acknowledged",   "answered",     "answer",               {LIAISON}),
    ("more_requested", "answered",     "answer",               {LIAISON}),
    ("answered",       "accepted",     "accept_answer",        {OFFICER}),
    ("answered",       "more_requested", "request_more",       {OFFICER}),
    ("sent",           "withdrawn",    "withdraw",             {OFFICER}),
    ("acknowledged",   "withdrawn",    "withdraw",             {OFFICER}),
    ("more_requested", "withdrawn",    "withdraw",             {OFFICER}),
    final=("accepted", "withdrawn"),
)

# The states in which a request waits for the body's liaison, read from the table: only
# they can move it on from here (acknowledge, answer). Its answer is due in these states,
# and late once the due date has passed.
AWAITING_LIAISON = tuple(dict.fromkeys(item.source for item in COORDINATION.transitions if LIAISON in item.roles))


def awaiting_liaison(state: str) -> bool:
    return state in AWAITING_LIAISON

CONCLUSION = Workflow(
    "conclusion", "draft",
    ("draft",          "submitted",    "submit",               {OFFICER}),
    ("submitted",      "returned",     "return",               {SUPERVISOR}),
    ("returned",       "submitted",    "submit",               {OFFICER}),
    ("submitted",      "approved",     "approve",              {SUPERVISOR}),
    final=("approved",),
)

CASE_WORKFLOWS = {"review": REVIEW, "petition": PETITION}

# --- vocabularies ------------------------------------------------------------------------

REVIEW_PURPOSES = ("party_admission", "cadre_planning", "appointment", "election", "abroad", "other")
FINDING_CATEGORIES = ("political_history", "current_political_issue", "other")
CONCLUSION_OUTCOMES = ("no_issue", "issue_not_affecting", "not_meeting_standard", "not_concluded")
PETITION_TYPES = ("complaint", "denunciation", "reflection", "recommendation")
PETITION_CHANNELS = ("post", "in_person", "forwarded", "electronic")
# Reasons to file a petition without handling (the intake rules of the party's guidance).
FILING_REASONS = ("anonymous_or_false_name", "repeat_without_new_evidence", "vague_content",
                  "unsigned_copy", "outside_jurisdiction")


# Purposes of a review campaign (đợt thẩm định, issue 20), with the review purpose the reviews
# it opens carry. Dated like the deadline rules: a purpose a new regulation retires stays on
# the campaigns that used it, and is no longer offered for new ones.
@dataclass(frozen=True)
class CampaignPurpose:
    key: str
    review_purpose: str
    effective_from: date = date(2000, 1, 1)
    effective_until: date | None = None

    def in_effect(self, on: date) -> bool:
        return self.effective_from <= on and (self.effective_until is None or on <= self.effective_until)


CAMPAIGN_PURPOSES: tuple[CampaignPurpose, ...] = (
    CampaignPurpose("congress", "election"),         # nhân sự đại hội
    CampaignPurpose("planning", "cadre_planning"),   # quy hoạch
    CampaignPurpose("appointment", "appointment"),   # bổ nhiệm, giới thiệu ứng cử
    CampaignPurpose("admission", "party_admission"), # kết nạp Đảng
)
CAMPAIGN_STATES = ("open", "closed")


def campaign_purpose(key: str, on: date | None = None) -> CampaignPurpose | None:
    """The purpose `key`, if it exists (and, given a day, is in effect on it)."""
    for purpose in CAMPAIGN_PURPOSES:
        if purpose.key == key and (on is None or purpose.in_effect(on)):
            return purpose
    return None


def campaign_purposes_on(on: date) -> tuple[CampaignPurpose, ...]:
    return tuple(purpose for purpose in CAMPAIGN_PURPOSES if purpose.in_effect(on))

# --- deadlines ---------------------------------------------------------------------------

@dataclass(frozen=True)
class DeadlineRule:
    """How long a piece of work may take, from which event, and how it may be extended.

    Rules carry the date they take effect, so a rule changed by a new regulation applies
    to work started after that date and leaves older deadlines as they were."""

    key: str                 # review, complaint, complaint_complex, denunciation, reflection, forwarding
    start_event: str         # opened, received, accepted
    days: int
    working_days: bool = False
    max_extensions: int = 0
    extension_days: int = 0
    effective_from: date = date(2000, 1, 1)


DEFAULT_DEADLINE_RULES: tuple[DeadlineRule, ...] = (
    DeadlineRule("review",            "opened",   30),
    DeadlineRule("denunciation",      "accepted", 30, max_extensions=2, extension_days=30),
    DeadlineRule("complaint",         "accepted", 30),
    DeadlineRule("complaint_complex", "accepted", 45),
    DeadlineRule("reflection",        "accepted", 15),
    DeadlineRule("recommendation",    "accepted", 15),
    DeadlineRule("forwarding",        "received", 5, working_days=True),
)


def rule_for(key: str, start: date, rules: Iterable[DeadlineRule] = DEFAULT_DEADLINE_RULES) -> DeadlineRule:
    """The rule for `key` in effect on `start`: the latest one effective on or before it."""
    candidates = [rule for rule in rules if rule.key == key and rule.effective_from <= start]
    if not candidates:
        raise KeyError(f"no deadline rule {key!r} in effect on {start.isoformat()}")
    return max(candidates, key=lambda rule: rule.effective_from)


def add_days(start: date, days: int, *, working_days: bool, holidays: Iterable[date] = ()) -> date:
    """`start` plus `days`: calendar days, or working days (Monday to Friday, skipping
    `holidays`), counted from the day after `start`."""
    if not working_days:
        return start + timedelta(days=days)
    closed = set(holidays)
    day, remaining = start, days
    while remaining > 0:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in closed:
            remaining -= 1
    return day


def due_date(rule: DeadlineRule, start: date, *, extensions: int = 0, holidays: Iterable[date] = ()) -> date:
    if extensions > rule.max_extensions:
        raise ValueError(f"{rule.key}: at most {rule.max_extensions} extensions")
    holidays = tuple(holidays)
    due = add_days(start, rule.days, working_days=rule.working_days, holidays=holidays)
    for _ in range(extensions):
        due = add_days(due, rule.extension_days, working_days=rule.working_days, holidays=holidays)
    return due


def add_months(start: date, months: int) -> date:
    """Same day `months` later, or the month's last day when it has no such day."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def petition_rule_key(petition_type: str, complex_case: bool = False) -> str:
    return "complaint_complex" if petition_type == "complaint" and complex_case else petition_type


def parse_rules(raw: Iterable[dict]) -> tuple[DeadlineRule, ...]:
    """Rules from settings (a list of mappings; dates as ISO text). Raises ValueError with
    one line naming the bad rule."""
    rules = []
    for number, item in enumerate(raw, start=1):
        try:
            values = dict(item)
            if "effective_from" in values:
                values["effective_from"] = date.fromisoformat(str(values["effective_from"]))
            rule = DeadlineRule(**values)
            if rule.days < 0 or rule.max_extensions < 0 or rule.extension_days < 0:
                raise ValueError("negative days")
        except (TypeError, ValueError) as error:
            raise ValueError(f"deadline rule {number}: {error}") from None
        rules.append(rule)
    return tuple(rules)
