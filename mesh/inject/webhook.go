package inject

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxReviewBytes bounds an AdmissionReview body (the API server sends at
// most a few megabytes for a pod).
const maxReviewBytes = 8 << 20

// NamespaceLabels returns the labels of a namespace.
type NamespaceLabels interface {
	Labels(ctx context.Context, namespace string) (map[string]string, error)
}

// NamespaceLabelsFunc adapts a function to NamespaceLabels.
type NamespaceLabelsFunc func(ctx context.Context, namespace string) (map[string]string, error)

// Labels calls f.
func (f NamespaceLabelsFunc) Labels(ctx context.Context, namespace string) (map[string]string, error) {
	return f(ctx, namespace)
}

// Webhook is the mutating admission webhook (AdmissionReview v1) for pods.
type Webhook struct {
	Config     Config
	Namespaces NamespaceLabels
}

var _ http.Handler = (*Webhook)(nil)

// ServeHTTP answers one AdmissionReview. Malformed reviews get 400; a pod
// that cannot be decoded or patched is refused with a message naming it;
// anything else is allowed, with the sidecar patch when the policy says so.
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(rw, "POST an AdmissionReview", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes+1))
	if err != nil {
		http.Error(rw, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxReviewBytes {
		http.Error(rw, "AdmissionReview too large", http.StatusRequestEntityTooLarge)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		http.Error(rw, "decoding the AdmissionReview: "+err.Error(), http.StatusBadRequest)
		return
	}
	if review.Request == nil {
		http.Error(rw, "AdmissionReview without a request", http.StatusBadRequest)
		return
	}
	resp := w.review(r.Context(), review.Request)
	out := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Response: resp,
	}
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(out)
}

// review decides one request.
func (w *Webhook) review(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Kind.Group != "" || req.Kind.Kind != "Pod" || req.Operation != admissionv1.Create {
		return resp
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return deny(resp, fmt.Sprintf("pod %s/%s: decoding: %v", req.Namespace, req.Name, err))
	}
	var labels map[string]string
	if w.Namespaces != nil {
		l, err := w.Namespaces.Labels(ctx, req.Namespace)
		if err != nil {
			return deny(resp, fmt.Sprintf("pod %s/%s: namespace %s: %v", req.Namespace, podName(&pod), req.Namespace, err))
		}
		labels = l
	}
	ops, d, err := Patch(&pod, req.Namespace, labels, w.Config)
	if err != nil {
		return deny(resp, fmt.Sprintf("pod %s/%s: %v", req.Namespace, podName(&pod), err))
	}
	if len(ops) == 0 {
		return resp
	}
	raw, err := json.Marshal(ops)
	if err != nil {
		return deny(resp, fmt.Sprintf("pod %s/%s: patch: %v", req.Namespace, podName(&pod), err))
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = raw, &pt
	resp.AuditAnnotations = map[string]string{"inject": d.Reason} // the API server prefixes the webhook name
	return resp
}

func deny(resp *admissionv1.AdmissionResponse, msg string) *admissionv1.AdmissionResponse {
	resp.Allowed = false
	resp.Result = &metav1.Status{Status: metav1.StatusFailure, Message: msg, Reason: metav1.StatusReasonBadRequest, Code: http.StatusBadRequest}
	return resp
}
