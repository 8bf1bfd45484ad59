# GPU/accelerator instance types are reserved for training and serving stages: other
# stages would waste scarce accelerator quota. Deny messages can be plain strings.
package cloudplan.rules.gpu_only_for_train_serve

import rego.v1

gpu_kinds := {"train", "serve"}

deny contains msg if {
	input.instance_type.accelerator != null
	not input.stage.kind in gpu_kinds
	msg := sprintf(
		"stage '%s' (%s) may not use accelerator instance type %s",
		[input.stage.name, input.stage.kind, input.instance_type.name],
	)
}
