package inject

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

func testWebhook() *Webhook {
	return &Webhook{Namespaces: NamespaceLabelsFunc(func(_ context.Context, ns string) (map[string]string, error) {
		switch ns {
		case "mesh":
			return map[string]string{NamespaceLabel: NamespaceEnabled}, nil
		case "broken":
			return nil, fmt.Errorf("api server unavailable")
		}
		return map[string]string{}, nil
	})}
}

func reviewBody(t *testing.T, ns string, kind metav1.GroupVersionKind, raw []byte) []byte {
	t.Helper()
	r := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID("uid-1"), Kind: kind, Namespace: ns, Operation: admissionv1.Create,
			Object: runtime.RawExtension{Raw: raw},
		},
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(t *testing.T, w http.Handler, body []byte) (*httptest.ResponseRecorder, *admissionv1.AdmissionResponse) {
	t.Helper()
	rec := httptest.NewRecorder()
	w.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/inject", bytes.NewReader(body)))
	if rec.Code != http.StatusOK {
		return rec, nil
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("response: %v", err)
	}
	if out.Kind != "AdmissionReview" || out.APIVersion != "admission.k8s.io/v1" || out.Response == nil {
		t.Fatalf("response is not an AdmissionReview v1: %s", rec.Body.String())
	}
	if out.Response.UID != "uid-1" {
		t.Errorf("uid %q not echoed", out.Response.UID)
	}
	return rec, out.Response
}

var podGVK = metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}

func podJSON(t *testing.T) []byte {
	t.Helper()
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
	p.GenerateName = "app-"
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWebhookInjects(t *testing.T) {
	_, resp := post(t, testWebhook(), reviewBody(t, "mesh", podGVK, podJSON(t)))
	if resp == nil || !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("want an allowed response with a JSON patch, got %+v", resp)
	}
	var ops []Operation
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	_ = json.Unmarshal(podJSON(t), &pod)
	out, err := ApplyPatch(&pod, ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Spec.InitContainers) != 4 || out.Spec.InitContainers[3].Name != ContainerName {
		t.Fatalf("patched pod init containers: %+v", out.Spec.InitContainers)
	}
	// The namespace comes from the request: the pod has none yet.
	if !strings.Contains(strings.Join(out.Spec.InitContainers[3].Args, " "), `"cluster":"mesh/mesh"`) {
		t.Errorf("bootstrap does not name group mesh/mesh: %v", out.Spec.InitContainers[3].Args)
	}
}

func TestWebhookLeavesOthersAlone(t *testing.T) {
	w := testWebhook()
	for name, body := range map[string][]byte{
		"namespace not enabled": reviewBody(t, "plain", podGVK, podJSON(t)),
		"not a pod":             reviewBody(t, "mesh", metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, []byte(`{}`)),
	} {
		t.Run(name, func(t *testing.T) {
			_, resp := post(t, w, body)
			if resp == nil || !resp.Allowed || resp.Patch != nil {
				t.Fatalf("want allowed without a patch, got %+v", resp)
			}
		})
	}
}

func TestWebhookErrors(t *testing.T) {
	w := testWebhook()
	t.Run("malformed review", func(t *testing.T) {
		rec, _ := post(t, w, []byte(`{not json`))
		if rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", rec.Code)
		}
	})
	t.Run("no request", func(t *testing.T) {
		rec, _ := post(t, w, []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`))
		if rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", rec.Code)
		}
	})
	t.Run("GET", func(t *testing.T) {
		rec := httptest.NewRecorder()
		w.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/inject", nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Fatalf("status %d, want 405", rec.Code)
		}
	})
	for name, tc := range map[string]struct {
		ns, want string
		raw      []byte
	}{
		"undecodable pod":        {ns: "mesh", raw: []byte(`{"spec": 3}`), want: "pod mesh/: decoding"},
		"namespace lookup fails": {ns: "broken", raw: podJSON(t), want: "namespace broken: api server unavailable"},
	} {
		t.Run(name, func(t *testing.T) {
			_, resp := post(t, w, reviewBody(t, tc.ns, podGVK, tc.raw))
			if resp == nil || resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, tc.want) {
				t.Fatalf("want a denial naming %q, got %+v", tc.want, resp)
			}
		})
	}
}
