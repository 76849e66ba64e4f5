"""The case page: what it shows a user, and what it offers them to do.

`case_page` gathers the values (each offer asks the rule that the action's operation
enforces, by its name); `render_case` renders them with the page's forms, blank or as a
refused POST left them (input kept). The reading is audited here, with the page.
"""

from __future__ import annotations

from flask import render_template

from cases import labels, workflow
from cases.access import operations as access
from cases.actions import versioned
from cases.casework import lists, operations
from cases.casework.forms import (
    AssignForm,
    AttachmentForm,
    CommentForm,
    TransitionForm,
    VersionedForm,
)
from cases.conclusions import operations as conclusions
from cases.conclusions import signing
from cases.coordination import operations as coordination
from cases.petitions import operations as petitions
from cases.petitions import releases
from cases.petitions.forms import ExtendForm
from cases.reviews import operations as reviews
from protection import policy
from protection.identity import Role
from protection.marking import mark_page_classification

# The plain steps the case page offers as buttons; conclusions and petition decisions
# have forms of their own.
STEP_ACTIONS = frozenset(labels.STEP_ACTIONS)


def steps(case, user) -> list[workflow.Transition]:
    """The plain steps the user's role takes the case through from its state (for whoever
    may work the case)."""
    return [item for item in workflow.CASE_WORKFLOWS[case.kind].actions(case.state, user.role.value)
            if item.action in STEP_ACTIONS]


def case_page(case, user) -> dict:
    """Everything the case page shows this user, and what it offers them."""
    can_work = policy.can_work_case(user, case)
    can_assign = policy.can_assign_case(user, case)
    versions, re_review = reviews.versions_and_re_review(case)
    findings = operations.case_findings(case, user)
    timeline, extensions = operations.timeline_and_extensions(case)
    today = operations.today()
    return {
        "case": case,
        "emergency": access.active_access(case, user) if not policy.is_assigned(user, case) else None,
        "emergency_accesses": access.case_accesses(case) if user.role == Role.SUPERVISOR or can_work else [],
        "petition": case.petition,
        "can_work": can_work,
        "can_assign": can_assign,
        "steps": steps(case, user) if can_work else [],
        "re_review": re_review,
        "repeats": petitions.repeats_of(case) if case.kind == "petition" else [],
        "can_extend": can_work and petitions.can_extend(case),
        "can_decide": can_work and petitions.awaiting_decision(case),
        "can_see_petitioner": case.kind == "petition" and policy.can_see_petitioner(user, case),
        # Asks to open the petitioner's identity that wait for this supervisor (issue 23).
        "identity_asks": (releases.case_asks(case, user)
                          if case.kind == "petition" and user.role == Role.SUPERVISOR else []),
        "officers": operations.assignable_officers(case) if can_assign else [],
        "findings": findings,
        "finding_people": operations.finding_person_labels(case, findings),
        "attachments": operations.case_attachments(case, user),
        "comments": operations.comments(case),
        "timeline": timeline,
        "extensions": extensions,
        "versions": versions,
        "current": versions[-1] if versions else None,
        "signatures": {item.id: (conclusions.verified(item), signing.check_value(item))
                       for item in versions if item.state == "approved"},
        "superseded_by": conclusions.superseded_by(versions),
        "requests": [(item, coordination.is_overdue(item)) for item in coordination.case_requests(case)],
        "can_request": can_work and coordination.accepts_requests(case),
        "today": today,
        "soon": lists.due_soon_limit(today),
    }


def render_case(case, user, status: int = 200, **forms):
    """The case page; `forms` replace the blank ones (a refused POST keeps its input)."""
    operations.record_case_view(case)
    context = case_page(case, user)
    mark_page_classification(*(item.classification for item in context["findings"] + context["attachments"]))
    # Only the forms the page shows this user are built (each costs a CSRF field and its
    # bindings); the template asks for each under the same condition.
    can_work, can_assign = context["can_work"], context["can_assign"]
    blank = {
        "transition_form": (context["steps"], lambda: versioned(TransitionForm, case)),
        "bare_form": (can_work or can_assign, lambda: versioned(VersionedForm, case)),
        "assign_form": (can_assign, lambda: versioned(AssignForm, case, officers=context["officers"])),
        "comment_form": (can_work, lambda: versioned(CommentForm, case)),
        "attachment_form": (can_work, lambda: versioned(AttachmentForm, case, user=user)),
        "extend_form": (context["can_extend"], lambda: versioned(ExtendForm, case)),
    }
    for name, (shown, build) in blank.items():
        context[name] = forms.get(name) or (build() if shown else None)
    return render_template("casework/case.html", **context), status
