import json, copy, os
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'vectors')
T0 = 1735689600000  # 2025-01-01T00:00:00Z
S, M, H = 1000, 60_000, 3_600_000
DEFAULT = "$default"

USERS = [
    {"id": "u-hw-2", "roles": ["Hardware Engineer"]},
    {"id": "u-hw-1", "roles": ["Hardware Engineer"]},
    {"id": "u-hw-3", "roles": ["Hardware Engineer"]},
    {"id": "u-eng-1", "roles": ["Engineer"]},
    {"id": "u-eng-2", "roles": ["Engineer"]},
    {"id": "u-mgr-2", "roles": ["Manager"]},
    {"id": "u-mgr-1", "roles": ["Manager"]},
    {"id": "u-dir-1", "roles": ["Director"]},
]

def ticket(**kw):
    t = {"id": "TKT-20250101-0001", "title": "Printer jam", "description": "", "category": "Software",
         "requester": "u-req-1", "created_at": T0}
    t.update(kw)
    return t

def ev(t, now=T0, **kw):
    r = {"op": "evaluate", "ticket": t, "now": now}
    r.update(kw)
    return r

def write(name, description, cases, rule_set=DEFAULT):
    doc = {"description": description, "rule_set": rule_set, "cases": cases}
    with open(os.path.join(OUT, name + '.json'), 'w') as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write('\n')

def case(name, request, expect):
    return {"name": name, "request": request, "expect": expect}

def prio(p, outcome, rule=None, **extra):
    d = {"type": "success", "op": "evaluate", "answer": {"prioritization": {"priority": p, "outcome": outcome, "rule": rule}}}
    d["answer"]["prioritization"].update(extra)
    return d

# ---------------------------------------------------------------- prioritization (default set)
cases = [
    case("urgent sets High", ev(ticket(title="urgent: printer jam")), prio("High", "set_by_rule", "urgent", changed=True, priority_source="automation")),
    case("outage sets Critical", ev(ticket(title="Email outage")), prio("Critical", "set_by_rule", "outage")),
    case("down sets Critical", ev(ticket(title="VPN is down")), prio("Critical", "set_by_rule", "down")),
    case("download does not contain the word down", ev(ticket(title="Download failed")), prio("Medium", "default", None, matches=[])),
    case("countdown does not contain the word down", ev(ticket(title="Countdown timer broken")), prio("Medium", "default")),
    case("shutdown does not contain the word down", ev(ticket(title="Unexpected shutdown")), prio("Medium", "default")),
    case("upper case OUTAGE matches", ev(ticket(title="OUTAGE in EU region")), prio("Critical", "set_by_rule", "outage")),
    case("trailing punctuation outage. matches", ev(ticket(title="We have an outage.")), prio("Critical", "set_by_rule", "outage",
         matches=[{"rule": "outage", "keyword": "outage", "field": "title", "start": 11, "end": 17, "start_byte": 11, "end_byte": 17}])),
    case("hyphen is a word boundary", ev(ticket(title="down-time expected")), prio("Critical", "set_by_rule", "down")),
    case("underscore is a word character", ev(ticket(title="down_time flag")), prio("Medium", "default")),
    case("digit is a word character", ev(ticket(title="Down2 mirror")), prio("Medium", "default")),
    case("urgent outage is Critical, not first-match High", ev(ticket(title="urgent outage in billing")), prio("Critical", "set_by_rule", "outage")),
    case("keyword in the description", ev(ticket(title="Help", description="the site went down at noon")), prio("Critical", "set_by_rule", "down",
         matches=[{"rule": "down", "keyword": "down", "field": "description", "start": 14, "end": 18}])),
    case("a person's Critical is not lowered by urgent", ev(ticket(title="urgent request", priority="Critical")), prio("Critical", "kept", "urgent", changed=False, priority_source="person")),
    case("a person's Low is raised by outage", ev(ticket(title="outage", priority="Low")), prio("Critical", "raised", "outage", previous="Low", changed=True, priority_source="automation")),
    case("a person's High agrees with urgent", ev(ticket(title="urgent", priority="High")), prio("High", "kept", "urgent", changed=False)),
    case("an automation-set High stays when nothing matches", ev(ticket(title="plain", priority="High", priority_source="automation")), prio("High", "kept", None, priority_source="automation")),
    case("empty title and description get the default", ev(ticket(title="", description="")), prio("Medium", "default", None, matches=[])),
    case("very long description with the keyword at the end", ev(ticket(title="x", description=("lorem ipsum " * 5000) + "down")), prio("Critical", "set_by_rule", "down",
         matches=[{"rule": "down", "field": "description", "start": 60000, "end": 60004}])),
    case("every occurrence is highlighted", ev(ticket(title="down down", description="still DOWN")), prio("Critical", "set_by_rule", "down",
         matches=[{"field": "title", "start": 0}, {"field": "title", "start": 5}, {"field": "description", "start": 6}])),
    case("trace explains every rule", ev(ticket(title="urgent")), {"type": "success", "answer": {"trace": [
        {"kind": "prioritization", "rule": "urgent", "matched": True},
        {"kind": "prioritization", "rule": "outage", "matched": False, "conditions": [{"condition": "keywords", "passed": False, "saw": "none of them in `title`, `description`"}]},
        {"kind": "prioritization", "rule": "down", "matched": False},
        {"kind": "assignment", "rule": "hardware", "matched": False, "conditions": [{"condition": "category", "passed": False, "expected": "`Hardware`", "saw": "`Software`"}]},
        {"kind": "assignment", "rule": "production-change", "matched": False},
        {"kind": "escalation", "rule": "critical-approved-2h", "matched": False, "conditions": [
            {"condition": "priority", "passed": False, "expected": "Critical", "saw": "High"},
            {"condition": "status", "passed": False, "expected": "Approved", "saw": "InApproval"},
            {"condition": "time_in_status", "passed": False, "expected": "more than PT2H", "saw": "PT0S since 1735689600000"},
            {"condition": "not_yet_fired", "passed": True}]},
        {"kind": "escalation", "rule": "high-approved-8h", "matched": False, "conditions": [{"passed": True}, {"passed": False}, {"passed": False}, {"passed": True}]},
        {"kind": "escalation", "rule": "critical-in-progress-24h", "matched": False}]}}),
]
write("prioritization-default", "The default rule set's keyword rules: whole words, case folding, highest priority wins, no lowering of a person's priority.", cases)

# ---------------------------------------------------------------- prioritization (custom sets)
def rs(**kw):
    d = {"version": 7}
    d.update(kw)
    return d
tie = rs(prioritization=[
    {"id": "first-high", "keywords": ["printer"], "priority": "High"},
    {"id": "second-high", "keywords": ["jam"], "priority": "High"}])
cases = [
    case("equal priorities: the first rule written wins", ev(ticket(title="printer jam"), rule_set=tie), prio("High", "set_by_rule", "first-high")),
    case("category condition fails and says what it saw",
         ev(ticket(title="disk failure", category="Software"), rule_set=rs(prioritization=[{"id": "hw-disk", "keywords": ["disk"], "priority": "High", "categories": ["Hardware"]}])),
         {"type": "success", "answer": {"prioritization": {"priority": "Medium", "outcome": "default"}, "trace": [
             {"rule": "hw-disk", "matched": False, "conditions": [{"condition": "keywords", "passed": True}, {"condition": "category", "passed": False, "expected": "one of `Hardware`", "saw": "`Software`"}]}]}}),
    case("category condition holds",
         ev(ticket(title="disk failure", category="Hardware"), rule_set=rs(prioritization=[{"id": "hw-disk", "keywords": ["disk"], "priority": "High", "categories": ["Hardware"]}])),
         prio("High", "set_by_rule", "hw-disk")),
    case("requester condition",
         ev(ticket(title="anything at all", requester="u-ceo"), rule_set=rs(prioritization=[{"id": "vip", "keywords": ["anything"], "priority": "High", "requesters": ["u-ceo"]}])),
         prio("High", "set_by_rule", "vip")),
    case("requester condition fails",
         ev(ticket(title="anything at all", requester="u-intern"), rule_set=rs(prioritization=[{"id": "vip", "keywords": ["anything"], "priority": "High", "requesters": ["u-ceo"]}])),
         prio("Medium", "default")),
    case("a rule that opts in may lower a person's priority",
         ev(ticket(title="just a question", priority="Critical"), rule_set=rs(prioritization=[{"id": "question", "keywords": ["question"], "priority": "Low", "may_lower": True}])),
         prio("Low", "lowered", "question", previous="Critical", changed=True)),
    case("without opting in it may not",
         ev(ticket(title="just a question", priority="Critical"), rule_set=rs(prioritization=[{"id": "question", "keywords": ["question"], "priority": "Low"}])),
         prio("Critical", "kept", "question", changed=False)),
    case("substring mode matches inside words",
         ev(ticket(title="Download failed"), rule_set=rs(prioritization=[{"id": "down-anywhere", "keywords": ["down"], "priority": "High", "match_mode": "substring"}])),
         prio("High", "set_by_rule", "down-anywhere", matches=[{"start": 0, "end": 4}])),
    case("title-only rule ignores the description",
         ev(ticket(title="hello", description="outage"), rule_set=rs(prioritization=[{"id": "t", "keywords": ["outage"], "priority": "Critical", "fields": ["title"]}])),
         prio("Medium", "default")),
    case("any one of several keywords",
         ev(ticket(title="the database is unreachable"), rule_set=rs(prioritization=[{"id": "db", "keywords": ["crashed", "unreachable", "corrupt"], "priority": "Critical"}])),
         prio("Critical", "set_by_rule", "db", matches=[{"keyword": "unreachable"}])),
    case("a phrase keyword matches as a whole",
         ev(ticket(title="Server  down? no: the server down alarm"), rule_set=rs(prioritization=[{"id": "phrase", "keywords": ["server down"], "priority": "Critical"}])),
         prio("Critical", "set_by_rule", "phrase", matches=[{"start": 22, "end": 33}])),
    case("keyword with punctuation edges",
         ev(ticket(title="our c++ build broke, not abc++"), rule_set=rs(prioritization=[{"id": "cpp", "keywords": ["C++"], "priority": "High"}])),
         prio("High", "set_by_rule", "cpp", matches=[{"start": 4, "end": 7}])),
    case("the rule set's default priority",
         ev(ticket(title="nothing"), rule_set=rs(default_priority="Low")),
         prio("Low", "default")),
    case("an empty rule set decides defaults only",
         ev(ticket(title="outage"), rule_set=rs()),
         {"type": "success", "answer": {"rule_set_version": 7, "prioritization": {"priority": "Medium", "outcome": "default"}, "assignment": {"outcome": "no_rule"}, "sla": None, "escalations": [], "next_wake_up": None, "trace": []}}),
    case("keywords are trimmed",
         ev(ticket(title="it is down"), rule_set=rs(prioritization=[{"id": "d", "keywords": ["  down "], "priority": "High"}])),
         prio("High", "set_by_rule", "d")),
]
write("prioritization-rules", "Custom prioritization rules: ties, conditions, opting into lowering, match modes, fields, phrases.", cases, rule_set=None)

# ---------------------------------------------------------------- unicode
def kw(id_, words, p="High", **k):
    d = {"id": id_, "keywords": words, "priority": p}
    d.update(k)
    return rs(prioritization=[d])
cases = [
    case("ß folds to ss", ev(ticket(title="Die STRASSE ist gesperrt"), rule_set=kw("strasse", ["straße"])), prio("High", "set_by_rule", "strasse")),
    case("ss in a keyword matches ß in the text", ev(ticket(title="Die Straße ist gesperrt"), rule_set=kw("strasse", ["STRASSE"])),
         prio("High", "set_by_rule", "strasse", matches=[{"start": 4, "end": 10, "start_byte": 4, "end_byte": 11}])),
    case("final sigma folds like sigma", ev(ticket(title="ΟΔΟΣ κλειστή"), rule_set=kw("odos", ["οδος"])), prio("High", "set_by_rule", "odos")),
    case("Cyrillic upper case", ev(ticket(title="СЕРВЕР УПАЛ"), rule_set=kw("upal", ["упал"], "Critical")), prio("Critical", "set_by_rule", "upal")),
    case("offsets are UTF-16 units and bytes", ev(ticket(title="🔥 outage"), rule_set=DEFAULT), prio("Critical", "set_by_rule", "outage",
         matches=[{"start": 3, "end": 9, "start_byte": 5, "end_byte": 11}])),
    case("accented letters are word characters", ev(ticket(title="downé is not down"), rule_set=kw("down", ["down"])),
         prio("High", "set_by_rule", "down", matches=[{"start": 13}])),
    case("CJK text has no spaces: whole-word does not match inside", ev(ticket(title="システム障害発生"), rule_set=kw("shougai", ["障害"])), prio("Medium", "default")),
    case("CJK keywords use substring mode", ev(ticket(title="システム障害発生"), rule_set=kw("shougai", ["障害"], match_mode="substring")),
         prio("High", "set_by_rule", "shougai", matches=[{"start": 4, "end": 6, "start_byte": 12, "end_byte": 18}])),
    case("fullwidth letters fold", ev(ticket(title="ＯＵＴＡＧＥ"), rule_set=kw("fw", ["ｏｕｔａｇｅ"])), prio("High", "set_by_rule", "fw")),
    case("non-ASCII keyword in ASCII text", ev(ticket(title="cafe is open"), rule_set=kw("cafe", ["café"])), prio("Medium", "default")),
    case("non-ASCII keyword in mixed case text", ev(ticket(title="CAFÉ flooded"), rule_set=kw("cafe", ["café"])), prio("High", "set_by_rule", "cafe")),
]
write("unicode", "Unicode case folding and word boundaries, with offsets for highlighting in UTF-16 and bytes.", cases, rule_set=None)

# ---------------------------------------------------------------- assignment
def asg(**kw):
    d = {"type": "success", "op": "evaluate", "answer": {"assignment": kw}}
    return d
hw = lambda **k: ticket(title="Laptop screen flickers", category="Hardware", **k)
cases = [
    case("first counter value picks the first by id", ev(hw(), users=USERS, counters={"Hardware Engineer": 1}),
         asg(outcome="assigned", rule="hardware", role="Hardware Engineer", assignee="u-hw-1", counter=1, eligible=["u-hw-1", "u-hw-2", "u-hw-3"], skipped=[])),
    case("second counter value picks the second", ev(hw(), users=USERS, counters={"Hardware Engineer": 2}), asg(assignee="u-hw-2", counter=2)),
    case("counter wraps around", ev(hw(), users=USERS, counters={"Hardware Engineer": 4}), asg(assignee="u-hw-1", counter=4)),
    case("huge counter", ev(hw(), users=USERS, counters={"Hardware Engineer": 18446744073709551615}), asg(assignee="u-hw-3")),
    case("counter zero is treated as the first turn", ev(hw(), users=USERS, counters={"Hardware Engineer": 0}), asg(assignee="u-hw-1")),
    case("order is by id whatever the input order", ev(hw(), users=list(reversed(USERS)), counters={"Hardware Engineer": 1}), asg(assignee="u-hw-1", eligible=["u-hw-1", "u-hw-2", "u-hw-3"])),
    case("unavailable members are skipped and recorded",
         ev(hw(), users=[dict(u, available=False) if u["id"] == "u-hw-1" else u for u in USERS], counters={"Hardware Engineer": 1}),
         asg(assignee="u-hw-2", eligible=["u-hw-2", "u-hw-3"], skipped=[{"user": "u-hw-1", "reason": "unavailable"}])),
    case("members at their cap are skipped",
         ev(hw(), users=[dict(u, open_tickets=5, max_open_tickets=5) if u["id"] == "u-hw-2" else u for u in USERS], counters={"Hardware Engineer": 2}),
         asg(assignee="u-hw-3", eligible=["u-hw-1", "u-hw-3"], skipped=[{"user": "u-hw-2", "reason": "at_capacity"}])),
    case("below the cap is fine",
         ev(hw(), users=[dict(u, open_tickets=4, max_open_tickets=5) if u["id"] == "u-hw-2" else u for u in USERS], counters={"Hardware Engineer": 2}),
         asg(assignee="u-hw-2")),
    case("nobody eligible leaves the ticket unassigned with a reason",
         ev(hw(), users=[dict(u, available=False) for u in USERS], counters={"Hardware Engineer": 1}),
         asg(outcome="nobody_eligible", assignee=None, counter=None, eligible=[], reason="every member of role `Hardware Engineer` is unavailable or at capacity; the ticket stays unassigned")),
    case("a role with no members", ev(hw(), users=[], counters={}),
         asg(outcome="nobody_eligible", assignee=None, reason="role `Hardware Engineer` has no members; the ticket stays unassigned")),
    case("without the counter the host is asked for it", ev(hw(), users=USERS),
         asg(outcome="needs_counter", role="Hardware Engineer", assignee=None, counter=None, eligible=["u-hw-1", "u-hw-2", "u-hw-3"])),
    case("a category with no rule", ev(ticket(category="Software"), users=USERS, counters={"Hardware Engineer": 1}),
         asg(outcome="no_rule", rule=None, role=None, assignee=None)),
    case("an assigned ticket keeps its assignee", ev(hw(assignee="u-eng-2"), users=USERS, counters={"Hardware Engineer": 1}),
         asg(outcome="already_assigned", assignee="u-eng-2", counter=None)),
    case("production changes go to engineers", ev(ticket(category="ProductionChange", title="deploy"), users=USERS, counters={"Engineer": 2}),
         asg(outcome="assigned", rule="production-change", role="Engineer", assignee="u-eng-2")),
    case("a user listed twice counts once", ev(hw(), users=USERS + [{"id": "u-hw-1", "roles": ["Hardware Engineer"]}], counters={"Hardware Engineer": 4}),
         asg(assignee="u-hw-1", eligible=["u-hw-1", "u-hw-2", "u-hw-3"])),
]
write("assignment", "Round-robin assignment: the host's counter picks among eligible members in id order.", cases)

# ---------------------------------------------------------------- escalation
def esc_req(t, now, users=USERS, **kw):
    r = {"op": "check_escalations", "ticket": t, "now": now, "users": users}
    r.update(kw)
    return r
crit_appr = lambda **k: ticket(priority="Critical", status="Approved", history=[{"status": "InApproval", "at": T0}, {"status": "Approved", "at": T0 + 10 * M}], **k)
E0 = T0 + 10 * M
def fired(*rules, **kw):
    d = {"type": "success", "op": "check_escalations", "answer": {"fired": [{"rule": r} for r in rules]}}
    d["answer"].update(kw)
    return d
cases = [
    case("exactly at the threshold nothing fires", esc_req(crit_appr(), E0 + 2 * H), fired()),
    case("one millisecond past the threshold it fires", esc_req(crit_appr(), E0 + 2 * H + 1),
         {"type": "success", "answer": {"fired": [{"rule": "critical-approved-2h", "key": f"TKT-20250101-0001:critical-approved-2h:{E0}", "status": "Approved",
          "status_entered_at": E0, "due_at": E0 + 2 * H + 1, "role": "Manager", "assignee": "u-mgr-1", "set_priority": None}], "assignee": "u-mgr-1", "priority": "Critical"}}),
    case("it fires at most once per status entry", esc_req(crit_appr(escalations_fired=[{"rule": "critical-approved-2h", "status_entered_at": E0}]), E0 + 30 * H),
         {"type": "success", "answer": {"fired": [], "trace": [{"rule": "critical-approved-2h", "matched": False, "conditions": [{}, {}, {"passed": True}, {"condition": "not_yet_fired", "passed": False, "saw": "already fired"}]}, {}, {}]}}),
    case("a new entry into the status may fire again",
         esc_req(ticket(priority="Critical", status="Approved", history=[{"status": "InApproval", "at": T0}, {"status": "Approved", "at": T0 + H}, {"status": "InProgress", "at": T0 + 4 * H}, {"status": "OnHold", "at": T0 + 5 * H}, {"status": "InProgress", "at": T0 + 6 * H}, {"status": "Approved", "at": T0 + 7 * H}],
                        escalations_fired=[{"rule": "critical-approved-2h", "status_entered_at": T0 + H}]), T0 + 9 * H + 1),
         fired("critical-approved-2h", **{"fired": [{"status_entered_at": T0 + 7 * H, "key": f"TKT-20250101-0001:critical-approved-2h:{T0 + 7 * H}"}]})),
    case("time counts from the last entry into the status",
         esc_req(ticket(priority="Critical", status="Approved", history=[{"status": "InApproval", "at": T0}, {"status": "Approved", "at": T0 + H}, {"status": "InApproval", "at": T0 + 2 * H}, {"status": "Approved", "at": T0 + 10 * H}]), T0 + 11 * H),
         fired()),
    case("High approved for more than 8h", esc_req(ticket(priority="High", status="Approved", history=[{"status": "Approved", "at": T0}]), T0 + 8 * H + 1),
         fired("high-approved-8h", assignee="u-mgr-1")),
    case("Critical in progress for more than 24h goes to the director",
         esc_req(ticket(priority="Critical", status="InProgress", assignee="u-eng-1", history=[{"status": "InProgress", "at": T0}]), T0 + 24 * H + 1),
         fired("critical-in-progress-24h", assignee="u-dir-1")),
    case("a priority no rule names", esc_req(ticket(priority="Medium", status="Approved", history=[{"status": "Approved", "at": T0}]), T0 + 100 * H), fired()),
    case("no history counts from creation", esc_req(ticket(priority="Critical", status="Approved"), T0 + 2 * H + 1), fired("critical-approved-2h", **{"fired": [{"status_entered_at": T0}]})),
    case("unavailable managers are passed over",
         esc_req(crit_appr(), E0 + 3 * H, users=[dict(u, available=False) if u["id"] == "u-mgr-1" else u for u in USERS]), fired("critical-approved-2h", assignee="u-mgr-2")),
    case("no manager available: it still fires, without reassignment",
         esc_req(crit_appr(assignee="u-eng-1"), E0 + 3 * H, users=[u for u in USERS if "Manager" not in u["roles"]]),
         {"type": "success", "answer": {"fired": [{"rule": "critical-approved-2h", "assignee": None, "reason": "Critical in Approved for more than PT2H: escalate to role `Manager`, which has nobody available"}], "assignee": "u-eng-1"}}),
    case("a rule may raise the priority",
         esc_req(ticket(priority="High", status="InProgress", history=[{"status": "InProgress", "at": T0}]), T0 + 90 * M,
                 rule_set=rs(escalation=[{"id": "stale-high", "priority": "High", "status": "InProgress", "after": 60, "escalate_to_role": "Manager", "set_priority": "Critical"}])),
         fired("stale-high", priority="Critical", **{"fired": [{"set_priority": "Critical", "due_at": T0 + H + 1}]})),
    case("two rules due at once fire in due order",
         esc_req(ticket(priority="High", status="InProgress", history=[{"status": "InProgress", "at": T0}]), T0 + 5 * H,
                 rule_set=rs(escalation=[{"id": "late", "priority": "High", "status": "InProgress", "after": "PT3H", "escalate_to_role": "Director"},
                                         {"id": "early", "priority": "High", "status": "InProgress", "after": "PT1H", "escalate_to_role": "Manager"}])),
         fired("early", "late", assignee="u-dir-1")),
    case("the next wake-up after firing skips what fired",
         esc_req(crit_appr(), E0 + 2 * H + 1),
         {"type": "success", "answer": {"next_wake_up": {"kind": "sla_warning", "subject": "resolution", "at": T0 + 192 * M}}}),
    case("a ticket without a priority never escalates", esc_req(ticket(status="Approved"), T0 + 100 * H), fired()),
]
write("escalation", "Time-in-status escalation: strictly beyond the threshold, once per status entry, to the first available member of the role.", cases)

# ---------------------------------------------------------------- sla
def sla_req(t, now):
    return {"op": "sla_status", "ticket": t, "now": now}
def sla(fr=None, res=None, **kw):
    a = {"sla": {}}
    if fr is not None: a["sla"]["first_response"] = fr
    if res is not None: a["sla"]["resolution"] = res
    a["sla"].update(kw)
    return {"type": "success", "op": "sla_status", "answer": a}
crit = lambda **k: ticket(priority="Critical", **k)
cases = [
    case("a new Critical ticket", sla_req(crit(), T0), sla(
        {"target_ms": H, "state": "ok", "elapsed_ms": 0, "remaining_ms": H, "warning_at": T0 + 48 * M, "deadline_at": T0 + H, "met_at": None, "breached_at": None},
        {"target_ms": 4 * H, "state": "ok", "warning_at": T0 + 192 * M, "deadline_at": T0 + 4 * H}, priority="Critical", paused=False, rule_set_version=1)),
    case("one millisecond before the warning", sla_req(crit(), T0 + 48 * M - 1), sla({"state": "ok"})),
    case("exactly at the warning fraction", sla_req(crit(), T0 + 48 * M), sla({"state": "warning", "remaining_ms": 12 * M})),
    case("exactly at the deadline without a response is a breach", sla_req(crit(), T0 + H), sla({"state": "breached", "breached_at": T0 + H, "remaining_ms": 0})),
    case("after the deadline", sla_req(crit(), T0 + 2 * H), sla({"state": "breached", "breached_at": T0 + H, "remaining_ms": -H})),
    case("a response exactly at the deadline is met", sla_req(crit(first_response_at=T0 + H), T0 + 2 * H), sla({"state": "met", "met_at": T0 + H, "elapsed_ms": H, "remaining_ms": 0})),
    case("a response one millisecond late is breached", sla_req(crit(first_response_at=T0 + H + 1), T0 + 2 * H), sla({"state": "breached", "breached_at": T0 + H, "met_at": None})),
    case("paused while on hold",
         sla_req(crit(status="OnHold", history=[{"status": "InProgress", "at": T0}, {"status": "OnHold", "at": T0 + 30 * M}]), T0 + 2 * H),
         sla({"state": "paused", "elapsed_ms": 30 * M, "remaining_ms": 30 * M, "deadline_at": None, "warning_at": None}, {"state": "paused", "elapsed_ms": 30 * M}, paused=True)),
    case("resumed after the hold, the paused time does not count",
         sla_req(crit(status="InProgress", history=[{"status": "InProgress", "at": T0}, {"status": "OnHold", "at": T0 + 30 * M}, {"status": "InProgress", "at": T0 + 2 * H}]), T0 + 2 * H + 20 * M),
         sla({"state": "warning", "elapsed_ms": 50 * M, "warning_at": T0 + 2 * H + 18 * M, "deadline_at": T0 + 2 * H + 30 * M}, {"state": "ok", "elapsed_ms": 50 * M, "deadline_at": T0 + 5 * H + 30 * M}, paused=False)),
    case("a breach that happened before a hold stays a breach",
         sla_req(crit(status="OnHold", history=[{"status": "InProgress", "at": T0}, {"status": "OnHold", "at": T0 + 90 * M}]), T0 + 3 * H),
         sla({"state": "breached", "breached_at": T0 + H}, {"state": "paused", "elapsed_ms": 90 * M})),
    case("resolved in time: resolution met",
         sla_req(crit(status="Resolved", first_response_at=T0 + 10 * M, history=[{"status": "InProgress", "at": T0}, {"status": "Resolved", "at": T0 + 3 * H}]), T0 + 10 * H),
         sla({"state": "met", "met_at": T0 + 10 * M}, {"state": "met", "met_at": T0 + 3 * H, "elapsed_ms": 3 * H})),
    case("reopened: time spent resolved does not count",
         sla_req(crit(status="InProgress", first_response_at=T0 + 10 * M, history=[{"status": "InProgress", "at": T0}, {"status": "Resolved", "at": T0 + H}, {"status": "InProgress", "at": T0 + 5 * H}]), T0 + 6 * H),
         sla({"state": "met"}, {"state": "ok", "elapsed_ms": 2 * H, "deadline_at": T0 + 8 * H})),
    case("resolving stops the first-response clock too",
         sla_req(crit(status="Resolved", history=[{"status": "InProgress", "at": T0}, {"status": "Resolved", "at": T0 + 20 * M}]), T0 + 5 * H),
         sla({"state": "met", "met_at": T0 + 20 * M})),
    case("rejected tickets stop the clocks", sla_req(crit(status="Rejected", history=[{"status": "InApproval", "at": T0}, {"status": "Rejected", "at": T0 + 5 * M}]), T0 + 5 * H),
         sla({"state": "met"}, {"state": "met", "met_at": T0 + 5 * M})),
    case("no target for the priority means no SLA",
         dict(sla_req(ticket(priority="Low"), T0), rule_set=rs(sla={"targets": [{"priority": "Critical", "first_response": 30, "resolution": 120}]})),
         {"type": "success", "op": "sla_status", "answer": {"sla": None}}),
    case("no priority means no SLA", sla_req(ticket(), T0), {"type": "success", "answer": {"sla": None}}),
    case("a custom warning fraction and pause status",
         dict(sla_req(ticket(priority="High", status="Approved", history=[{"status": "InApproval", "at": T0}, {"status": "Approved", "at": T0 + H}]), T0 + H),
              rule_set=rs(sla={"warning_bp": 5000, "pause_statuses": ["InApproval", "OnHold"], "targets": [{"priority": "High", "first_response": "PT2H", "resolution": "P1D"}]})),
         sla({"elapsed_ms": 0, "warning_at": T0 + 2 * H, "deadline_at": T0 + 3 * H, "state": "ok"})),
]
write("sla", "SLA clocks: warning fraction, breach exactly at the deadline, met at the deadline, pauses, stops and reopenings.", cases)

# ---------------------------------------------------------------- wake-up
def wake_req(t, now, **kw):
    r = {"op": "next_wake_up", "ticket": t, "now": now, "users": USERS}
    r.update(kw)
    return r
def wake(at, kind, subject):
    return {"type": "success", "op": "next_wake_up", "answer": {"rule_set_version": 1, "next_wake_up": None if at is None else {"at": at, "kind": kind, "subject": subject}}}
cases = [
    case("a new Critical approved ticket wakes for the first-response warning", wake_req(crit(status="Approved", history=[{"status": "Approved", "at": T0}]), T0), wake(T0 + 48 * M, "sla_warning", "first_response")),
    case("after the response, the escalation comes first",
         wake_req(crit(status="Approved", first_response_at=T0 + M, history=[{"status": "Approved", "at": T0}]), T0 + M), wake(T0 + 2 * H + 1, "escalation", "critical-approved-2h")),
    case("in warning, the next transition is the breach", wake_req(crit(), T0 + 50 * M), wake(T0 + H, "sla_breach", "first_response")),
    case("a Medium ticket in approval has only SLA transitions", wake_req(ticket(priority="Medium"), T0), wake(T0 + 384 * M, "sla_warning", "first_response")),
    case("paused with no escalation rule for the status", wake_req(crit(status="OnHold", first_response_at=T0, history=[{"status": "InProgress", "at": T0}, {"status": "OnHold", "at": T0 + M}]), T0 + H), wake(None, None, None)),
    case("an overdue escalation reports its past instant", wake_req(crit(status="Approved", first_response_at=T0, history=[{"status": "Approved", "at": T0}]), T0 + 50 * H),
         wake(T0 + 2 * H + 1, "escalation", "critical-approved-2h")),
    case("a closed ticket never wakes", wake_req(crit(status="Closed", first_response_at=T0, history=[{"status": "InProgress", "at": T0}, {"status": "Resolved", "at": T0 + H}, {"status": "Closed", "at": T0 + 2 * H}]), T0 + 3 * H), wake(None, None, None)),
    case("evaluate reports the wake-up and the escalation timeline",
         ev(ticket(title="site down", status="Approved", history=[{"status": "Approved", "at": T0}]), users=USERS),
         {"type": "success", "answer": {"next_wake_up": {"at": T0 + 48 * M, "kind": "sla_warning"}, "escalations": [{"rule": "critical-approved-2h", "due_at": T0 + 2 * H + 1, "assignee": "u-mgr-1"}],
                                        "sla": {"priority": "Critical", "first_response": {"deadline_at": T0 + H}}}}),
]
write("wake-up", "The next instant at which time alone changes something: escalations and SLA transitions.", cases)

# ---------------------------------------------------------------- compliance
def comp_req(tickets, frm, to, now):
    return {"op": "compliance_report", "tickets": tickets, "from": frm, "to": to, "now": now}
D = 24 * H
tickets = [
    ticket(id="met", priority="Critical", first_response_at=T0 + 10 * M, status="Resolved", history=[{"status": "InProgress", "at": T0}, {"status": "Resolved", "at": T0 + 2 * H}]),
    ticket(id="late", priority="Critical", first_response_at=T0 + 2 * H, status="InProgress", history=[{"status": "InProgress", "at": T0}]),
    ticket(id="old", created_at=T0 - 10 * D, priority="Critical", first_response_at=T0 - 10 * D + M, status="Closed", history=[{"status": "InProgress", "at": T0 - 10 * D}, {"status": "Closed", "at": T0 - 10 * D + H}]),
    ticket(id="noprio"),
    ticket(id="high-open", priority="High", status="InProgress", history=[{"status": "InProgress", "at": T0}]),
]
cases = [
    case("met and breached per priority in the period", comp_req(tickets, T0, T0 + D, T0 + 10 * H),
         {"type": "success", "op": "compliance_report", "answer": {"from": T0, "to": T0 + D, "tickets_without_target": 1, "by_priority": [
             {"priority": "Critical", "first_response": {"met": 1, "breached": 1, "compliance_bp": 5000}, "resolution": {"met": 1, "breached": 1, "compliance_bp": 5000}},
             {"priority": "High", "first_response": {"met": 0, "breached": 1, "compliance_bp": 0}, "resolution": {"met": 0, "breached": 0, "compliance_bp": None}},
             {"priority": "Medium", "first_response": {"met": 0, "breached": 0, "compliance_bp": None}},
             {"priority": "Low"}],
             "total": {"first_response": {"met": 1, "breached": 2, "compliance_bp": 3333}, "resolution": {"met": 1, "breached": 1, "compliance_bp": 5000}}}}),
    case("an earlier period sees only the old ticket", comp_req(tickets, T0 - 11 * D, T0, T0 + 10 * H),
         {"type": "success", "answer": {"total": {"first_response": {"met": 1, "breached": 0, "compliance_bp": 10000}, "resolution": {"met": 1, "breached": 0}}}}),
    case("no tickets", comp_req([], T0, T0 + D, T0 + D),
         {"type": "success", "answer": {"tickets_without_target": 0, "total": {"first_response": {"met": 0, "breached": 0, "compliance_bp": None}}}}),
    case("the period end is exclusive", comp_req([ticket(id="edge", priority="Critical", status="InProgress", history=[{"status": "InProgress", "at": T0}])], T0, T0 + H, T0 + 2 * H),
         {"type": "success", "answer": {"total": {"first_response": {"breached": 0}}}}),
    case("from after to is refused", comp_req([], T0 + D, T0, T0 + D), {"type": "failure", "errors": [{"code": "invalid_context", "path": "from"}]}),
]
write("compliance", "SLA compliance per priority over a period, in basis points.", cases)

# ---------------------------------------------------------------- validation
def val(rule_set):
    return {"op": "validate", "rule_set": rule_set}
def bad(*errors):
    return {"type": "failure", "errors": list(errors)}
good = {"version": 3, "prioritization": [{"id": "outage", "keywords": ["outage"], "priority": "Critical"}]}
def with_(path_fn):
    d = copy.deepcopy(good); path_fn(d); return d
cases = [
    case("the default rule set is valid", val(DEFAULT), {"type": "success", "op": "validate", "answer": {"version": 1, "rules": {"prioritization": 3, "assignment": 2, "escalation": 3, "sla_targets": 4}}}),
    case("unknown priority names the rule and field", val(with_(lambda d: d["prioritization"][0].update(priority="P9"))),
         bad({"code": "invalid_rule_set", "message": "unknown priority `P9` in rule `outage`", "rule": "outage", "field": "priority", "path": "rule_set"})),
    case("unknown status", val(rs(escalation=[{"id": "e", "priority": "High", "status": "Pending", "after": 60, "escalate_to_role": "Manager"}])),
         bad({"message": "unknown status `Pending` in rule `e`", "rule": "e", "field": "status"})),
    case("duplicate rule ids", val(rs(prioritization=[{"id": "x", "keywords": ["a"], "priority": "Low"}], assignment=[{"id": "x", "category": "Hardware", "role": "Engineer"}])),
         bad({"message": "duplicate rule id `x`", "rule": "x", "field": "id"})),
    case("a rule without keywords", val(with_(lambda d: d["prioritization"][0].update(keywords=[]))), bad({"message": "rule `outage` has no keywords", "field": "keywords"})),
    case("an empty keyword", val(with_(lambda d: d["prioritization"][0].update(keywords=["ok", "  "]))), bad({"message": "empty keyword in rule `outage`", "field": "keywords[1]"})),
    case("months are not exact", val(rs(escalation=[{"id": "e", "priority": "High", "status": "Approved", "after": "P1M", "escalate_to_role": "Manager"}])),
         bad({"message": "invalid duration `P1M` in rule `e`: years and months have no exact length; use days", "field": "after"})),
    case("zero minutes", val(rs(escalation=[{"id": "e", "priority": "High", "status": "Approved", "after": 0, "escalate_to_role": "Manager"}])),
         bad({"message": "invalid duration `0` in rule `e`: must be longer than zero"})),
    case("a category routed twice", val(rs(assignment=[{"id": "a", "category": "Hardware", "role": "Engineer"}, {"id": "b", "category": "Hardware", "role": "Manager"}])),
         bad({"message": "category `Hardware` is already routed by rule `a` (in rule `b`)", "rule": "b", "field": "category"})),
    case("an unknown field is named with its path", val(with_(lambda d: d["prioritization"][0].update(keyword="typo"))),
         bad({"code": "invalid_rule_set", "path": "rule_set", "message": "unknown field `keyword`, expected one of `id`, `keywords`, `priority`, `fields`, `match_mode`, `categories`, `requesters`, `may_lower` at line 1 column 43"})),
    case("a warning fraction out of range", val(rs(sla={"warning_bp": 0, "targets": []})), bad({"message": "warning_bp `0` in rule `sla` must be between 1 and 9999", "rule": "sla", "field": "warning_bp"})),
    case("every problem is reported at once",
         val(rs(prioritization=[{"id": "p", "keywords": [], "priority": "Urgent"}], escalation=[{"id": "e", "priority": "Hgh", "status": "Done", "after": "2h", "escalate_to_role": ""}])),
         bad({"rule": "p", "field": "priority"}, {"rule": "p", "field": "keywords"}, {"rule": "e", "field": "priority"}, {"rule": "e", "field": "status"}, {"rule": "e", "field": "after"}, {"rule": "e", "field": "escalate_to_role"})),
    case("a missing version", val({"prioritization": []}), bad({"code": "invalid_rule_set", "message": "missing field `version` at line 1 column 21"})),
    case("an unknown set_priority", val(rs(escalation=[{"id": "e", "priority": "High", "status": "Approved", "after": 60, "escalate_to_role": "Manager", "set_priority": "Highest"}])),
         bad({"field": "set_priority", "message": "unknown priority `Highest` in rule `e`"})),
    case("a final status cannot pause the clock", val(rs(sla={"pause_statuses": ["Closed"], "targets": []})), bad({"field": "pause_statuses[0]", "message": "final status `Closed` cannot pause the clocks in rule `sla`"})),
    case("a duplicate SLA target", val(rs(sla={"targets": [{"priority": "High", "first_response": 1, "resolution": 2}, {"priority": "High", "first_response": 1, "resolution": 2}]})),
         bad({"field": "targets[1].priority", "message": "duplicate target for priority `High` in rule `sla`"})),
    case("an empty rule id is reported once", val(rs(prioritization=[{"id": " ", "keywords": ["a"], "priority": "Low"}])),
         bad({"code": "invalid_rule_set", "message": "prioritization rule #0 has an empty id", "path": "rule_set.prioritization[0].id"})),
    case("the rule set is not an object", val([1, 2, 3]), bad({"code": "invalid_rule_set"})),
    case("a rule set error stops evaluation too", ev(ticket(), rule_set=with_(lambda d: d["prioritization"][0].update(priority="P9"))), bad({"message": "unknown priority `P9` in rule `outage`"})),
    case("an over-long keyword", val(with_(lambda d: d["prioritization"][0].update(keywords=["x" * 300]))), bad({"field": "keywords[0]", "message": "keywords[0] in rule `outage` is 300 bytes; the limit is 256"})),
]
write("validation", "Rule-set validation: every problem reported, each naming its rule and field.", cases, rule_set=None)

# ---------------------------------------------------------------- malformed requests
def raw(text=None, **gen):
    return {"raw": text} if text is not None else {"raw": gen}
def fail(code, **kw):
    e = {"code": code}; e.update(kw)
    return {"type": "failure", "errors": [e]}
cases = [
    case("module info", {"op": "module_info"}, {"type": "success", "op": "module_info", "answer": {"name": "nixflow-rules", "abi_version": 1, "schema_version": 1,
         "rule_kinds": ["prioritization", "assignment", "escalation", "sla"], "ops": ["module_info", "validate", "evaluate", "check_escalations", "sla_status", "next_wake_up", "compliance_report"]}}),
    case("empty input", raw(""), fail("invalid_input", message="EOF while parsing a value at line 1 column 0")),
    case("not JSON", raw("hello"), fail("invalid_request", message="a request is a JSON object")),
    case("truncated JSON", raw('{"op":"evaluate","rule_set":{"version":1'), fail("invalid_input")),
    case("JSON that is not an object", raw(" [1,2,3]"), fail("invalid_request", message="a request is a JSON object")),
    case("a JSON string", raw('"evaluate"'), fail("invalid_request", message="a request is a JSON object")),
    case("an unknown op", {"op": "delete_everything"}, fail("invalid_request", message="unknown variant `delete_everything`, expected one of `module_info`, `validate`, `evaluate`, `check_escalations`, `sla_status`, `next_wake_up`, `compliance_report` at line 1 column 25")),
    case("a missing op", {"rule_set": {"version": 1}}, fail("invalid_request")),
    case("evaluate without a ticket", {"op": "evaluate", "rule_set": DEFAULT, "now": T0}, fail("invalid_request", message="op `evaluate` needs `ticket`", path="ticket")),
    case("a field the op does not take", ev(ticket(), tickets=[]), fail("invalid_request", message="op `evaluate` does not take `tickets`", path="tickets")),
    case("an unknown top-level field", dict(ev(ticket()), verbose=True), fail("invalid_request")),
    case("an instant that is a string", ev(ticket(created_at="2025-01-01")), fail("invalid_request", message='invalid type: string "2025-01-01", expected i64 at line 1 column 1181')),
    case("a fractional instant", ev(ticket(created_at=1.5)), fail("invalid_request", message="invalid type: floating point `1.5`, expected i64 at line 1 column 1172")),
    case("an unknown ticket field", ev(ticket(decription="typo")), fail("invalid_request", message="unknown field `decription`, expected one of `id`, `title`, `description`, `category`, `requester`, `priority`, `priority_source`, `status`, `assignee`, `created_at`, `history`, `first_response_at`, `escalations_fired` at line 1 column 1195")),
    case("an unknown priority on the ticket", ev(ticket(priority="P9")), fail("invalid_request", message="unknown variant `P9`, expected one of `Low`, `Medium`, `High`, `Critical` at line 1 column 1240")),
    case("history must start at creation", ev(ticket(status="Approved", history=[{"status": "Approved", "at": T0 + 1}]), now=T0 + 5), fail("invalid_ticket", path="ticket.history[0].at")),
    case("history out of order", ev(ticket(status="Approved", history=[{"status": "InApproval", "at": T0}, {"status": "OnHold", "at": T0 + 9}, {"status": "Approved", "at": T0 + 5}]), now=T0 + 10),
         fail("invalid_ticket", path="ticket.history[2].at")),
    case("history must end in the current status", ev(ticket(status="Approved", history=[{"status": "InApproval", "at": T0}]), now=T0 + 10),
         fail("invalid_ticket", message="history ends in `InApproval` but the status is `Approved`", path="ticket.status")),
    case("an instant after now", ev(ticket(first_response_at=T0 + 10)), fail("invalid_ticket", path="ticket.first_response_at", message=f"instant `{T0 + 10}` is after now `{T0}`")),
    case("a negative instant", ev(ticket(created_at=-5), now=0), fail("invalid_ticket", path="ticket.created_at")),
    case("now beyond year 9999", ev(ticket(), now=253402300800000), fail("invalid_context", path="now")),
    case("a title over the cap", ev(ticket(title="t" * 3000)), fail("invalid_ticket", path="ticket.title", message="3000 bytes; the limit is 2048")),
    case("a 10 MB description", raw(prefix='{"op":"evaluate","rule_set":{"version":1},"now":1735689600000,"ticket":{"title":"x","category":"c","created_at":1735689600000,"description":"', unit="abcdefghij", times=1_000_000, suffix='"}}'),
         fail("invalid_ticket", path="ticket.description", message="10000000 bytes; the limit is 65536")),
    case("a 20 MB input", raw(prefix='{"op":"module_info","x":"', unit="abcdefghij", times=2_000_000, suffix='"}'), fail("invalid_input", message="input is 20000027 bytes; the limit is 16777216")),
    case("deeply nested arrays", raw(prefix='{"op":"validate","rule_set":', unit="[", times=100_000, suffix=""), fail("invalid_input")),
    case("deeply nested objects", raw(prefix='{"op":"module_info","x":', unit='{"a":', times=50_000, suffix=""), fail("invalid_request")),
    case("a huge number", raw('{"op":"evaluate","rule_set":{"version":1},"now":1e400,"ticket":{"title":"x","category":"c","created_at":1}}'), fail("invalid_input")),
    case("a lone surrogate escape in a string", raw('{"op":"evaluate","rule_set":{"version":1},"now":1,"ticket":{"title":"\\ud800","category":"c","created_at":1}}'), fail("invalid_input")),
    case("too many users", ev(ticket(), users=[{"id": f"u{i}"} for i in range(10001)]), fail("invalid_context", path="users")),
    case("an empty user id", ev(ticket(), users=[{"id": ""}]), fail("invalid_context", path="users[0].id")),
    case("a counter that is negative", ev(ticket(), counters={"Engineer": -1}), fail("invalid_request", message="invalid value: integer `-1`, expected u64 at line 1 column 26")),
]
write("malformed", "Malformed and hostile requests: every one gets a structured failure, never a trap or a panic.", cases)

total = 0
for f in os.listdir(OUT):
    total += len(json.load(open(os.path.join(OUT, f)))["cases"])
print("cases:", total)
