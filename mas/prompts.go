package mas

import (
	"fmt"
	"strings"
)

// Family is a task's prompt family: it picks the answer-format constraint.
type Family string

// Prompt families (REFERENCE.md §3).
const (
	Math Family = "MATH" // gsm8k, aime2024, aime2025: \boxed{} answer
	MC   Family = "MC"   // arc_easy, arc_challenge, gpqa, medqa: a letter in \boxed{}
	Code Family = "CODE" // mbppplus, humanevalplus: a python-fenced function
)

// FamilyOf maps a task name to its prompt family.
func FamilyOf(task string) (Family, error) {
	switch task {
	case "gsm8k", "aime2024", "aime2025":
		return Math, nil
	case "arc_easy", "arc_challenge", "gpqa", "medqa":
		return MC, nil
	case "mbppplus", "humanevalplus":
		return Code, nil
	}
	return "", fmt.Errorf("unknown task %q (known: gsm8k, aime2024, aime2025, gpqa, arc_easy, arc_challenge, mbppplus, humanevalplus, medqa)", task)
}

// Role is an agent's position in the fixed pipeline.
type Role string

// The four roles, in execution order.
const (
	Planner Role = "planner"
	Critic  Role = "critic"
	Refiner Role = "refiner"
	Judger  Role = "judger"
)

// Roles is the execution order of every multi-agent method.
var Roles = []Role{Planner, Critic, Refiner, Judger}

// Name is the agent's display name in traces ("Planner", ...).
func (r Role) Name() string { return strings.ToUpper(string(r[:1])) + string(r[1:]) }

// hierarchicalName is what the hierarchical architecture calls each role.
var hierarchicalName = map[Role]string{Planner: "math agent", Critic: "science agent", Refiner: "code agent", Judger: "task summarizer"}

// hierarchicalLabel labels a hierarchical text_mas agent's output.
var hierarchicalLabel = map[Role]string{Planner: "[Math Agent]", Critic: "[Science Agent]", Refiner: "[Code Agent]"}

// SystemPrompt is the system message of every agent: Qwen's standard
// identity line, as the reference uses everywhere.
const SystemPrompt = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

// Answer-format constraints, in our own words; the placeholders are the
// contract the scorers rely on.
const (
	boxRule  = "Reason step by step, and write your final answer as \\boxed{YOUR_FINAL_ANSWER}."
	abcdRule = "The final answer must be exactly one letter among A, B, C and D, written like \\boxed{A}; put nothing else inside the box."
	codeRule = "Write all Python code as one self-contained Python function inside a markdown code block, for example:\n" +
		"```python\nimport math\ndef add(a, b):\n    return a + b\n```\nPut nothing else inside the code block."
	codeRulePlaceholder = "Write all Python code as one self-contained Python function inside a markdown code block, for example:\n" +
		"```python\nimport LIBRARY\ndef FUNC_NAME(a, b):\n    return a + b\n```\nPut nothing else inside the code block."
	codeFinal = "Reason step by step, then give your final answer inside a code block:\n```python\nYOUR_PYTHON_CODE\n```"
)

// answerFormat is the closing instruction for a family.
func answerFormat(f Family) string {
	switch f {
	case MC:
		return abcdRule + "\n" + boxRule
	case Code:
		return codeRule + "\n" + codeFinal
	}
	return boxRule
}

// Messages is a [system, user] chat.
type Messages struct{ System, User string }

// LatentPrompt builds the latent_mas prompt of a role (sequential or
// hierarchical architecture). Non-judger agents never write text: their
// contribution is the KV cache they leave behind.
func LatentPrompt(arch string, role Role, f Family, question string) (Messages, error) {
	var u string
	switch arch {
	case "sequential":
		switch role {
		case Planner:
			u = "You are the Planner Agent. For the question below, lay out a clear plan, step by step, for how to solve it.\n\n" +
				"Question: " + question + "\n\n" +
				"Keep the plan short, a few bullet points per step, and do not give the final answer.\nWrite your plan now:\n"
		case Critic:
			u = "\nQuestion: " + question + "\n\n" +
				"You are the Critic Agent. A plan for this question reaches you as latent KV representations. " +
				"Check whether the plan is correct and give constructive feedback.\n" +
				"Answer in exactly this format:\nOriginal Plan: [copy of the plan]\nFeedback: [your feedback]\n\nWrite your response now:\n"
		case Refiner:
			u = "\nQuestion: " + question + "\n\n" +
				"You are the Refiner Agent. You receive (1) in latent form: an earlier plan together with feedback on it, " +
				"and (2) in text: the question above. Write an improved plan that is correct and concise.\n\nWrite the refined plan now:\n"
		case Judger:
			u = "\nTarget Question: " + question + "\n\n" +
				"You are a helpful assistant. You are given latent information for reference and a target question. " +
				"The latent information may be irrelevant; ignore it when it does not help. " +
				"Reason step by step to solve the target question, without irrelevant output.\n\n" + answerFormat(f) + "\n"
		}
	case "hierarchical":
		name := hierarchicalName[role]
		if name == "" {
			break
		}
		var instr string
		switch {
		case f == Code && role == Judger:
			instr = "Using the previous agents' responses as reference, reason step by step and provide an efficient, self-contained Python function that solves the question.\n" + codeRulePlaceholder
		case f == Code:
			instr = "Reason step by step and provide an efficient, self-contained Python function that solves the question.\n" + codeRule
		case role == Judger:
			instr = "Using the question and the previous agents' responses as reference, solve the question.\n" + answerFormat(f)
		default:
			instr = "Solve the question.\n" + answerFormat(f)
		}
		u = "\nYou are the " + name + ". " + instr + "\n\nInput Question: " + question + "\n\nYour response:\n"
	default:
		return Messages{}, fmt.Errorf("unknown prompt architecture %q (sequential or hierarchical)", arch)
	}
	if u == "" {
		return Messages{}, fmt.Errorf("no latent_mas prompt for role %q", role)
	}
	return Messages{SystemPrompt, u}, nil
}

// TextPrompt builds the text_mas prompt of a role; context holds the earlier
// agents' labelled outputs (already cut to the context length).
func TextPrompt(arch string, role Role, f Family, question, context string) (Messages, error) {
	var u string
	switch arch {
	case "sequential":
		switch role {
		case Planner:
			u = "\nYou are the Planner Agent. Design a step-by-step plan for solving the question.\n\n" +
				"## Input Question\n" + question + "\n\n" +
				"Keep the plan concise with bullet points, and do not give the final answer.\n\n" +
				"## Output format\nStart with the line \"Planner Agent's Output:\" followed by your plan.\n\nWrite your plan now:\n"
		case Critic:
			u = "\nYou are the Critic Agent. You receive (1) the question and (2) the Planner Agent's plan as text. " +
				"Judge whether the plan is correct and complete, and give feedback.\n\n" +
				"## Input Question\n" + question + "\n\n## Plan from the Planner Agent\n" + context + "\n\n" +
				"## Output format\nStart with the line \"Critic Agent's Output:\", then\nOriginal Plan: [copy of the plan]\nFeedback: [your feedback]\n\nWrite your response now:\n"
		case Refiner:
			u = "\nYou are the Refiner Agent. You receive the question, the Planner Agent's plan and the Critic Agent's feedback. " +
				"Use the feedback to write an improved plan.\n\n" +
				"## Input Question\n" + question + "\n\n## Original Plan and Critic Feedback\n" + context + "\n\n" +
				"## Output format\nStart with the line \"Refiner Agent's Output:\" followed by a refined plan that is correct, concise and enough to solve the question.\n\nWrite the refined plan now:\n"
		case Judger:
			u = "\nTarget Question: " + question + "\n\n" +
				"You are the final solver of a sequential team (planner → critic → refiner → solver) and receive the refined plan as reference.\n\n" +
				"Refined plan from the previous agents:\n" + context + "\n\n" +
				"The plan may be irrelevant or wrong; ignore it then. Reason step by step to solve the **Target Question** above, without irrelevant output.\n\n" +
				answerFormat(f) + "\n"
		}
	case "hierarchical":
		name := hierarchicalName[role]
		if name == "" {
			break
		}
		if role == Judger {
			instr := "Combine the previous agents' responses below into a final answer.\n" + answerFormat(f)
			u = "\nYou are the " + name + ". " + instr + "\n\nResponses from the previous agents:\n" + context +
				"\n\nInput Question: " + question + "\n\nYour response:\n"
		} else {
			instr := "Solve the question.\n" + answerFormat(f)
			if f == Code {
				instr = "Reason step by step and provide an efficient, self-contained Python function that solves the question.\n" + codeRule
			}
			u = "\nYou are the " + name + ". " + instr + "\n\nInput Question: " + question + "\n\nYour response:\n"
		}
	default:
		return Messages{}, fmt.Errorf("unknown prompt architecture %q (sequential or hierarchical)", arch)
	}
	if u == "" {
		return Messages{}, fmt.Errorf("no text_mas prompt for role %q", role)
	}
	return Messages{SystemPrompt, u}, nil
}

// BaselinePrompt builds the single-agent prompt.
func BaselinePrompt(f Family, question string) Messages {
	u := "\nTarget Question: " + question + "\n\n" +
		"You are a helpful assistant. Reason step by step to solve the **Target Question** above, without irrelevant output.\n\n" +
		answerFormat(f) + "\n"
	return Messages{SystemPrompt, u}
}

// textLabel is how text_mas labels an agent's output in the context.
func textLabel(arch string, role Role) string {
	if arch == "hierarchical" {
		return hierarchicalLabel[role]
	}
	return "[" + role.Name() + "]"
}

// cutContext applies --text_mas_context_length in characters: n < 0 keeps
// everything (the reference's -1 drops the last character, §6 D3; we do
// not), 0 keeps nothing, n > 0 keeps the first n characters.
func cutContext(s string, n int) string {
	if n < 0 {
		return s
	}
	r := []rune(s)
	if n < len(r) {
		return string(r[:n])
	}
	return s
}
