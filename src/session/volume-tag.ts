/** The tag recording the root volume's size at launch (GiB), so ls can say what a stopped instance's disk costs. */
export const VOLUME_TAG = 'ssh-ec2:volume-gib';
