package status

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Condition builds a condition without LastTransitionTime (writers stamp it).
// typ and reason are the gateway-api module's typed constants.
func Condition[T, R ~string](typ T, ok bool, reason R, message string, generation int64) metav1.Condition {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	return metav1.Condition{
		Type:               string(typ),
		Status:             s,
		Reason:             string(reason),
		Message:            message,
		ObservedGeneration: generation,
	}
}

// SetCondition replaces the condition of the same type in conds, or appends c.
func SetCondition(conds []metav1.Condition, c metav1.Condition) []metav1.Condition {
	for i := range conds {
		if conds[i].Type == c.Type {
			conds[i] = c
			return conds
		}
	}
	return append(conds, c)
}

// FindCondition returns the condition of type typ, or nil.
func FindCondition[T ~string](conds []metav1.Condition, typ T) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == string(typ) {
			return &conds[i]
		}
	}
	return nil
}

// IsTrue reports whether the condition typ is present with status True.
func IsTrue[T ~string](conds []metav1.Condition, typ T) bool {
	c := FindCondition(conds, typ)
	return c != nil && c.Status == metav1.ConditionTrue
}

// Well-known values Gantry reports that the gateway-api module does not name.
const (
	// GroupName is the Gateway API group.
	GroupName = gwapiv1.GroupName
)
