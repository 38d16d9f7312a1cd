/**
 * Steps that change only the config (ENV, LABEL, CMD, USER, ...): no layer, a history
 * entry marked empty. `instructions.ts` holds what each keyword does to the config.
 *
 * @module
 */
import { addHistory, applyMetadata } from "../instructions.ts";
import type { Instruction } from "../parser.ts";
import type { Step, StepContext } from "./step.ts";

/** Prepares a metadata instruction (`isMetadataInstruction`) as a step. */
export function metadataStep(
  ctx: StepContext,
  instruction: Instruction,
  args: Record<string, string>,
): Step {
  const { session } = ctx;
  const result = applyMetadata(ctx.state, instruction, args, session.escapeToken, ctx.argsOverEnv);
  return {
    components: {
      parent: ctx.key,
      instruction: `${result.createdBy ?? `ONBUILD ${instruction.args[0]}`}`,
    },
    predict: () => result.state,
    execute: () => {
      if (result.createdBy !== null) {
        addHistory(result.state.image, result.createdBy, session.iso(), true);
      }
      return Promise.resolve({ state: result.state, layers: ctx.layers });
    },
  };
}
