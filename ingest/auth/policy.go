package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Effect is what a statement does to the actions it matches.
type Effect string

// Effects, as IAM spells them (matched case-insensitively).
const (
	Allow Effect = "allow"
	Deny  Effect = "deny"
)

// Statement is one IAM-style policy statement: Effect on Actions over
// Resources. Actions are service:Action names ("kinesis:PutRecords",
// "firehose:PutRecordBatch", "hydrant:GetStatus") and may hold the
// wildcards * and ? ("kinesis:Get*", "*"); they match case-insensitively,
// as in IAM. Resources are ARN globs
// ("arn:aws:kinesis:*:*:stream/clicks-*", or "*" for all); * matches any
// run of characters, ":" and "/" included, and ? one character.
type Statement struct {
	Effect    Effect
	Actions   []string
	Resources []string
}

// Policy decides what a principal may do. The zero Policy allows nothing.
// As in IAM: an explicit deny wins over any allow, and what no statement
// allows is denied. It is safe for concurrent use.
type Policy struct {
	statements []Statement // validated; actions lowercased
}

// NewPolicy validates statements. Errors name the statement as
// statements[i] and say what would be valid.
func NewPolicy(statements []Statement) (*Policy, error) {
	p := &Policy{statements: make([]Statement, 0, len(statements))}
	for i, s := range statements {
		e := Effect(strings.ToLower(string(s.Effect)))
		if e != Allow && e != Deny {
			return nil, fmt.Errorf("statements[%d].effect: %q is not an effect; use allow or deny", i, s.Effect)
		}
		if len(s.Actions) == 0 {
			return nil, fmt.Errorf(`statements[%d].actions: required, e.g. ["kinesis:PutRecords"] or ["kinesis:*"]`, i)
		}
		if len(s.Resources) == 0 {
			return nil, fmt.Errorf(`statements[%d].resources: required, e.g. ["arn:aws:kinesis:*:*:stream/clicks"] or ["*"]`, i)
		}
		c := Statement{Effect: e}
		for j, a := range s.Actions {
			if err := validAction(a); err != nil {
				return nil, fmt.Errorf("statements[%d].actions[%d]: %w", i, j, err)
			}
			c.Actions = append(c.Actions, strings.ToLower(a))
		}
		for j, r := range s.Resources {
			if r != "*" && !strings.HasPrefix(r, "arn:") {
				return nil, fmt.Errorf(`statements[%d].resources[%d]: %q is not an ARN glob; use e.g. "arn:aws:kinesis:*:*:stream/clicks-*", "arn:aws:firehose:*:*:deliverystream/events" or "*"`, i, j, r)
			}
			c.Resources = append(c.Resources, r)
		}
		p.statements = append(p.statements, c)
	}
	return p, nil
}

// Merge returns a policy of p's statements and q's; either may be nil.
func (p *Policy) Merge(q *Policy) *Policy {
	out := &Policy{}
	if p != nil {
		out.statements = append(out.statements, p.statements...)
	}
	if q != nil {
		out.statements = append(out.statements, q.statements...)
	}
	return out
}

// Allowed reports whether the policy allows action on resource: some
// allow statement matches both and no deny statement does.
func (p *Policy) Allowed(action, resource string) bool {
	if p == nil {
		return false
	}
	action = strings.ToLower(action)
	allowed := false
	for i := range p.statements {
		s := &p.statements[i]
		if !s.matches(action, resource) {
			continue
		}
		if s.Effect == Deny {
			return false
		}
		allowed = true
	}
	return allowed
}

func (s *Statement) matches(action, resource string) bool {
	return slices.ContainsFunc(s.Actions, func(a string) bool { return WildcardMatch(a, action) }) &&
		slices.ContainsFunc(s.Resources, func(r string) bool { return WildcardMatch(r, resource) })
}

// WildcardMatch matches s against pattern, where * is any run of
// characters (none included) and ? any one byte: IAM's globbing, with no
// special meaning for "/" or ":". It runs in O(len(pattern)·len(s)).
func WildcardMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// Services whose actions a policy may name.
var actionServices = []string{"kinesis", "firehose", "hydrant"}

func validAction(a string) error {
	if a == "*" {
		return nil
	}
	svc, name, ok := strings.Cut(a, ":")
	if !ok || name == "" || !slices.Contains(actionServices, strings.ToLower(svc)) {
		return fmt.Errorf(`%q is not an action; use service:Action with service kinesis, firehose or hydrant, e.g. "kinesis:PutRecords", "firehose:*" or "*"`, a)
	}
	if strings.ContainsAny(name, " \t:/") {
		return fmt.Errorf("%q is not an action: the action name has a space, ':' or '/'", a)
	}
	return nil
}

// Hydrant's own actions, beside the Kinesis and Firehose API action names.
const (
	ActionGetStatus  = "hydrant:GetStatus"  // GET /v1/status (resource "*")
	ActionGetMetrics = "hydrant:GetMetrics" // GET /metrics (resource "*")
	// ActionQuery is POST /v1/sql (resource "*"): a query may read the
	// records of every stream, as kinesis:GetRecords on all of them.
	ActionQuery = "hydrant:Query"
	// ActionReloadConfig is POST /v1/reload (resource "*"): it applies the
	// server's config file as it is now (hydrant reload).
	ActionReloadConfig = "hydrant:ReloadConfig"
	// ActionResetDelivery is POST /v1/deliveries/{name}/reset (resource
	// "*"): it rewinds a delivery's checkpoints, so that it delivers again
	// (hydrant deliveries reset).
	ActionResetDelivery = "hydrant:ResetDelivery"
	// ActionRedriveDelivery is POST /v1/deliveries/{name}/redrive (resource
	// "*"): it sends a delivery's failed records to its destination again.
	ActionRedriveDelivery = "hydrant:RedriveDelivery"
	// ActionListDeliveryErrors is GET /v1/deliveries/{name}/errors
	// (resource "*"): it shows the start of failed records' data.
	ActionListDeliveryErrors = "hydrant:ListDeliveryErrors"
)

// DataPlanePolicy is the policy of a credential configured without one:
// every Kinesis and Firehose action that puts, reads, lists or describes,
// and Hydrant's status, metrics, SQL queries and failed-record listings
// (which read no more than kinesis:GetRecords does), on every resource; no
// control-plane action (create, delete, change, redrive).
func DataPlanePolicy() *Policy {
	return &Policy{statements: []Statement{{Effect: Allow, Resources: []string{"*"}, Actions: []string{
		"kinesis:putrecord", "kinesis:putrecords", "firehose:putrecord", "firehose:putrecordbatch",
		"kinesis:get*", "kinesis:list*", "kinesis:describe*", "kinesis:subscribetoshard",
		"firehose:list*", "firehose:describe*",
		strings.ToLower(ActionGetStatus), strings.ToLower(ActionGetMetrics), strings.ToLower(ActionQuery),
		strings.ToLower(ActionListDeliveryErrors),
	}}}}
}
