package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/mesh/inject"
)

// yamlDocument is one document of a multi-document file and its first line.
type yamlDocument struct {
	data []byte
	line int
}

// splitYAMLDocuments cuts data on its "---" lines, keeping each document's
// bytes (passed-through documents are printed as they were) and line.
func splitYAMLDocuments(data []byte) []yamlDocument {
	var docs []yamlDocument
	start, startLine, line := 0, 1, 1
	for pos := 0; pos < len(data); line++ {
		next := len(data)
		if i := bytes.IndexByte(data[pos:], '\n'); i >= 0 {
			next = pos + i + 1
		}
		if t := bytes.TrimRight(data[pos:next], " \t\r\n"); bytes.Equal(t, []byte("---")) {
			docs = append(docs, yamlDocument{data: data[start:pos], line: startLine})
			start, startLine = next, line+1
		}
		pos = next
	}
	docs = append(docs, yamlDocument{data: data[start:], line: startLine})
	out := docs[:0]
	for _, d := range docs {
		if len(bytes.TrimSpace(d.data)) > 0 {
			out = append(out, d)
		}
	}
	return out
}

// workloadKind is a kind whose pods injection reaches: the object to decode
// into and where its pod template is.
type workloadKind struct {
	apiVersion, kind string
	decode           func(data []byte) (metav1.Object, *corev1.PodTemplateSpec, error)
}

// podTemplateOf decodes a T strictly and returns its pod template.
func podTemplateOf[T any, PT interface {
	*T
	metav1.Object
}](template func(PT) *corev1.PodTemplateSpec) func([]byte) (metav1.Object, *corev1.PodTemplateSpec, error) {
	return func(data []byte) (metav1.Object, *corev1.PodTemplateSpec, error) {
		obj := PT(new(T))
		if err := yaml.UnmarshalStrict(data, obj); err != nil {
			return nil, nil, err
		}
		return obj, template(obj), nil
	}
}

// workloadKinds are the kinds `gantry inject -f` injects, as `istioctl
// kube-inject` does; a Pod is handled as its own template.
var workloadKinds = []workloadKind{
	{apiVersion: "apps/v1", kind: "Deployment", decode: podTemplateOf(func(o *appsv1.Deployment) *corev1.PodTemplateSpec { return &o.Spec.Template })},
	{apiVersion: "apps/v1", kind: "StatefulSet", decode: podTemplateOf(func(o *appsv1.StatefulSet) *corev1.PodTemplateSpec { return &o.Spec.Template })},
	{apiVersion: "apps/v1", kind: "DaemonSet", decode: podTemplateOf(func(o *appsv1.DaemonSet) *corev1.PodTemplateSpec { return &o.Spec.Template })},
	{apiVersion: "apps/v1", kind: "ReplicaSet", decode: podTemplateOf(func(o *appsv1.ReplicaSet) *corev1.PodTemplateSpec { return &o.Spec.Template })},
	{apiVersion: "batch/v1", kind: "Job", decode: podTemplateOf(func(o *batchv1.Job) *corev1.PodTemplateSpec { return &o.Spec.Template })},
	{apiVersion: "batch/v1", kind: "CronJob", decode: podTemplateOf(func(o *batchv1.CronJob) *corev1.PodTemplateSpec { return &o.Spec.JobTemplate.Spec.Template })},
}

// workload is one decoded document whose pods get the sidecar.
type workload struct {
	kind  string
	where string // file:line
	obj   metav1.Object
	// pod is the Pod, or a Pod made of the template (tmpl).
	pod  *corev1.Pod
	tmpl *corev1.PodTemplateSpec
}

// decodeWorkload decodes doc when it is a Pod or a workload kind; nil for
// any other kind (passed through).
func decodeWorkload(file string, doc yamlDocument) (*workload, error) {
	where := fmt.Sprintf("%s:%d", file, doc.line)
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc.data, &tm); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if tm.Kind == "Pod" {
		if tm.APIVersion != "v1" {
			return nil, fmt.Errorf("%s: Pod of apiVersion %q: want v1", where, tm.APIVersion)
		}
		pod := &corev1.Pod{}
		if err := yaml.UnmarshalStrict(doc.data, pod); err != nil {
			return nil, fmt.Errorf("%s: Pod: %w", where, err)
		}
		return &workload{kind: "Pod", where: where, obj: pod, pod: pod}, nil
	}
	for _, k := range workloadKinds {
		if k.kind != tm.Kind {
			continue
		}
		if tm.APIVersion != k.apiVersion {
			return nil, fmt.Errorf("%s: %s of apiVersion %q: want %s", where, k.kind, tm.APIVersion, k.apiVersion)
		}
		obj, tmpl, err := k.decode(doc.data)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", where, k.kind, err)
		}
		pod := &corev1.Pod{ObjectMeta: *tmpl.ObjectMeta.DeepCopy(), Spec: *tmpl.Spec.DeepCopy()}
		if pod.Name == "" && obj.GetName() != "" {
			pod.GenerateName = obj.GetName() + "-"
		}
		return &workload{kind: k.kind, where: where, obj: obj, pod: pod, tmpl: tmpl}, nil
	}
	return nil, nil
}

// namespaceFor is the object's namespace, -n for an object without one,
// default without either; an object whose namespace contradicts -n is an
// error naming it.
func (w *workload) namespaceFor(o *injectOptions) (string, error) {
	ns := w.obj.GetNamespace()
	switch {
	case ns != "" && o.namespace != "" && ns != o.namespace:
		return "", fmt.Errorf("%s: %s %s/%s is in namespace %s, not -n %s", w.where, w.kind, ns, w.obj.GetName(), ns, o.namespace)
	case ns != "":
		return ns, nil
	case o.namespace != "":
		return o.namespace, nil
	}
	return "default", nil
}

func (w *workload) name(ns string) string {
	return w.kind + " " + ns + "/" + w.obj.GetName()
}

// injected is what injectDocument returns: the document's text, and for
// each workload in it its name and the decision ("<object>: <decision>").
type injected struct {
	text  string
	notes []string
}

// injectDocument injects one document, or returns it unchanged.
func injectDocument(o *injectOptions, doc yamlDocument, labels map[string]string) (injected, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc.data, &tm); err == nil && tm.APIVersion == "v1" && tm.Kind == "List" {
		return injectList(o, doc, labels)
	}
	w, err := decodeWorkload(o.file, doc)
	if err != nil {
		return injected{}, err
	}
	if w == nil {
		return injected{text: string(doc.data)}, nil
	}
	ns, err := w.namespaceFor(o)
	if err != nil {
		return injected{}, err
	}
	out, d, err := inject.Inject(w.pod, ns, labels, o.cfg)
	if err != nil {
		return injected{}, fmt.Errorf("%s: %s: %w", w.where, w.name(ns), err)
	}
	note := w.name(ns) + ": " + decisionText(d)
	if !d.Inject {
		return injected{text: string(doc.data), notes: []string{note}}, nil
	}
	var obj any = out
	if w.tmpl != nil {
		w.tmpl.ObjectMeta.Annotations, w.tmpl.Spec = out.Annotations, out.Spec
		obj = w.obj
	}
	text, err := yaml.Marshal(obj)
	if err != nil {
		return injected{}, fmt.Errorf("%s: %s: %w", w.where, w.name(ns), err)
	}
	return injected{text: string(text), notes: []string{note}}, nil
}

// injectList injects the items of a v1 List (what `kubectl get -o yaml`
// prints for several objects); errors name the List's line.
func injectList(o *injectOptions, doc yamlDocument, labels map[string]string) (injected, error) {
	var list struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   map[string]any    `json:"metadata,omitempty"`
		Items      []json.RawMessage `json:"items"`
	}
	if err := yaml.Unmarshal(doc.data, &list); err != nil {
		return injected{}, fmt.Errorf("%s:%d: List: %w", o.file, doc.line, err)
	}
	var out injected
	for i, item := range list.Items {
		r, err := injectDocument(o, yamlDocument{data: item, line: doc.line}, labels)
		if err != nil {
			return injected{}, fmt.Errorf("item %d: %w", i, err)
		}
		if list.Items[i], err = yaml.YAMLToJSON([]byte(r.text)); err != nil {
			return injected{}, fmt.Errorf("%s:%d: List item %d: %w", o.file, doc.line, i, err)
		}
		out.notes = append(out.notes, r.notes...)
	}
	text, err := yaml.Marshal(list)
	if err != nil {
		return injected{}, fmt.Errorf("%s:%d: List: %w", o.file, doc.line, err)
	}
	out.text = string(text)
	return out, nil
}
