import { parseInput } from './errors';
import { imageRefSchema, type SandboxPolicyInput, sandboxPolicySchema } from './schemas';

export interface ResolvedImage {
  /** The image to run. */
  readonly image: string;
  /** The image asked for, when one was. */
  readonly requested: string | undefined;
  /** Set when the request was refused and the trusted default used instead. */
  readonly warning?: string;
}

/** Chooses the image a session runs: the request when the policy trusts it, else the default. */
export function resolveImage(requested: string | undefined, policy: SandboxPolicyInput = {}): ResolvedImage {
  const p = parseInput(sandboxPolicySchema, policy, 'sandbox policy');
  if (requested === undefined || requested === '') return { image: p.defaultImage, requested: undefined };
  const image = parseInput(imageRefSchema, requested, 'image');
  if (image === p.defaultImage || p.trustedImages.includes(image) || p.allowUntrustedImage) {
    return { image, requested: image };
  }
  return {
    image: p.defaultImage,
    requested: image,
    warning:
      `image "${image}" was requested but the policy does not allow untrusted images; ` +
      `using the trusted default "${p.defaultImage}". Set allowUntrustedImage (or add it to trustedImages) to opt in.`,
  };
}
