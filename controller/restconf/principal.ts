/** Who is asking: taken from the client certificate the controller's CA issued (controller/pki). */
export type PrincipalKind = 'operator' | 'tenant' | 'agent';

export interface Principal {
  kind: PrincipalKind;
  name: string;
  /** Certificate serial (hex), for revocation and the instruction log. */
  serial: string;
}

export const principalId = (p: Principal): string => `${p.kind}:${p.name}`;
