# ssh-ec2's data volume step (--volume), fed to `sh -s` after its settings (VOLUME_ID, DEVICE,
# MOUNT_POINT, MOUNT_COMMAND): finds the block device of the attached EBS volume, makes a file
# system on it the first time only (a device with one is never formatted again), mounts it at the
# mount point and gives it to the login user. Already mounted there: nothing to do.
# POSIX sh (dash). MOUNT_COMMAND, when set, stands in for all of it (the test sandbox has no block
# devices): run with SSH_EC2_VOLUME_ID and SSH_EC2_MOUNT_POINT, as the poweroff command is.
set -e
mkdir -p "$MOUNT_POINT"
if [ -n "$MOUNT_COMMAND" ]; then
  SSH_EC2_VOLUME_ID=$VOLUME_ID SSH_EC2_MOUNT_POINT=$MOUNT_POINT sh -c "$MOUNT_COMMAND"
  exit
fi
if mountpoint -q "$MOUNT_POINT"; then exit 0; fi
# On Nitro the volume is an NVMe device whose serial is its id without the dash; elsewhere the
# name AttachVolume was given (or its xvd twin). The attach may take a few seconds to show.
serial=$(printf '%s' "$VOLUME_ID" | tr -d -)
dev=''
tries=0
while [ -z "$dev" ] && [ "$tries" -lt 60 ]; do
  for d in "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_$serial" "$DEVICE" "$(echo "$DEVICE" | sed 's|/sd|/xvd|')"; do
    if [ -b "$d" ]; then
      dev=$(readlink -f "$d")
      break
    fi
  done
  [ -n "$dev" ] || sleep 1
  tries=$((tries + 1))
done
if [ -z "$dev" ]; then
  echo "no block device for $VOLUME_ID (looked for $DEVICE and its NVMe name)" >&2
  exit 1
fi
# A file system is made only on a device blkid -p (probing the device, not its cache) finds nothing
# on: its exit status 2. Any other failure (sudo, a read error) is no answer: never formatted then.
if sudo blkid -p "$dev" >/dev/null; then probe=0; else probe=$?; fi
case $probe in
  0) ;;
  2) sudo mkfs.ext4 -q -L ssh-ec2-data "$dev" ;;
  *)
    echo "could not tell whether $dev holds a file system (blkid -p: exit status $probe): not formatted" >&2
    exit 1
    ;;
esac
sudo mount "$dev" "$MOUNT_POINT"
sudo chown "$(id -u):$(id -g)" "$MOUNT_POINT"
