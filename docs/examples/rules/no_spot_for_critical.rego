# Critical stages must not run on spot capacity: an interruption of a critical stage
# breaks its SLO. Evaluated by `cloudplan gate` for every candidate option
# (input document: docs/gates.md#the-input-document).
package cloudplan.rules.no_spot_for_critical

import rego.v1

deny contains violation if {
	input.option.spot
	input.stage.criticality == "critical"
	violation := {
		"msg": sprintf("critical stage '%s' may not run on spot capacity", [input.stage.name]),
		"rule_id": "org.no_spot_for_critical",
		"field": "option.spot",
		"measured": "spot",
		"allowed": "on-demand",
	}
}
