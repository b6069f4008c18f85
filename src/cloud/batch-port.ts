/**
 * The batch port (ssh-ec2 batch): launch templates, EC2 Fleet and SQS, in our own types. Apart from
 * the Cloud port (port.ts) so that a session never loads it; batch-aws.ts implements it against
 * AWS. A batch's instances are still found, started and ended through the Cloud port.
 */
import type { LaunchSpec } from './port.js';

/** One of a batch's queues: its jobs not yet taken (visible) and being run (in flight). */
export interface QueueInfo {
  url: string;
  name: string;
  tags: Record<string, string>;
  visible: number;
  inFlight: number;
  createdAt?: Date;
}

/** One CreateFleet of type instant: `count` instances from the template, one override per type (× subnet). */
export interface FleetLaunch {
  templateId: string;
  overrides: { instanceType: string; subnetId?: string }[];
  count: number;
  market: 'spot' | 'on-demand';
  /** USD per hour for the whole fleet (--max-price × count), spot only. */
  maxTotalPrice?: string;
  tags: Record<string, string>;
}

export interface FleetResult {
  fleetId: string;
  instanceIds: string[];
  /** What EC2 could not launch, per override (capacity, quota, …): its code and message. */
  errors: { code: string; message: string; instanceType?: string }[];
}

/** The launch template a batch's fleets launch from: what a session's RunInstances says (launch.ts). */
export type TemplateSpec = Pick<
  LaunchSpec,
  | 'imageId'
  | 'securityGroupIds'
  | 'iamProfile'
  | 'userData'
  | 'rootDevice'
  | 'volumeSizeGiB'
  | 'shutdownBehavior'
  | 'keyName'
> & {
  name: string;
  /** The tags every instance (and its volumes) launched from it carries. */
  instanceTags: Record<string, string>;
  /** The template's own tags. */
  tags: Record<string, string>;
};

export interface TemplateInfo {
  id: string;
  name: string;
  tags: Record<string, string>;
  createdAt?: Date;
}

export interface FleetInfo {
  id: string;
  state: string;
  tags: Record<string, string>;
  createdAt?: Date;
}

/** A fleet DeleteFleets already ended (EC2 lists it a while longer: deleted, deleted_terminating, …). */
export const fleetDeleted = (state: string): boolean => state.startsWith('deleted');

export interface BatchCloud {
  region: string;
  createLaunchTemplate(spec: TemplateSpec): Promise<{ id: string; name: string }>;
  /** One already gone is fine. */
  deleteLaunchTemplate(id: string): Promise<void>;
  findLaunchTemplates(tags: Record<string, string>): Promise<TemplateInfo[]>;
  createFleet(f: FleetLaunch): Promise<FleetResult>;
  /**
   * Call it once the fleets' instances are ended (one by one, spot requests first): EC2 terminates
   * an instant fleet's instances with it (DeleteFleets: "a deleted instant fleet with running
   * instances is not supported"), whatever TerminateInstances says. One already gone is fine.
   */
  deleteFleets(ids: readonly string[]): Promise<void>;
  findFleets(tags: Record<string, string>): Promise<FleetInfo[]>;
  /** Returns the queue's URL. */
  createQueue(name: string, tags: Record<string, string>, visibilitySeconds: number): Promise<string>;
  /** SendMessageBatch, ten at a time. */
  sendJobs(url: string, bodies: readonly string[]): Promise<void>;
  /** Undefined: no such queue (deleted, or never made). */
  queueInfo(url: string): Promise<QueueInfo | undefined>;
  /** The queues whose name starts with `prefix`, with their tags and counts. */
  findQueues(prefix: string): Promise<QueueInfo[]>;
  purgeQueue(url: string): Promise<void>;
  /** One already gone is fine. */
  deleteQueue(url: string): Promise<void>;
}
